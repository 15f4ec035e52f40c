/**
 * Where a leak alert goes beyond the event stream, when it fires and when it resolves: an exec hook
 * (a shell command that gets the event as JSON on stdin and in $SALVOR_LEAK_EVENT) and a webhook (an
 * HTTP POST of the JSON).
 * Both are bounded by a timeout and never throw: a failure comes back as a message.
 */
import { spawn } from 'node:child_process';
import { request } from 'node:http';

export interface AlertHooks {
  /** Shell command run when an alert fires and when it resolves. */
  exec?: string;
  /** http:// URL the event is POSTed to. */
  webhook?: string;
  timeoutMs?: number;
}

/** Runs the exec hook; resolves to undefined on exit 0, else to what went wrong. */
export function runExecHook(command: string, event: object, timeoutMs = 10_000): Promise<string | undefined> {
  const json = JSON.stringify(event);
  return new Promise((resolve) => {
    const child = spawn('/bin/sh', ['-c', command], { stdio: ['pipe', 'ignore', 'pipe'], env: { ...process.env, SALVOR_LEAK_EVENT: json } });
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stderr.on('data', (d: Buffer) => {
      if (stderr.length < 400) stderr += d.toString();
    });
    child.stdin.on('error', () => undefined); // a hook that does not read its stdin
    child.stdin.end(json);
    child.on('error', (e) => {
      clearTimeout(timer);
      resolve(`exec hook: ${e.message}`);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve(code === 0 ? undefined : `exec hook '${command}' ended with ${signal ?? `exit ${code}`}${stderr ? `: ${stderr.trim().split('\n')[0]}` : ''}`);
    });
  });
}

/** POSTs the event as JSON; resolves to undefined on a 2xx answer, else to what went wrong. */
export function postWebhook(url: string, event: object, timeoutMs = 10_000): Promise<string | undefined> {
  const body = Buffer.from(JSON.stringify(event));
  return new Promise((resolve) => {
    let req;
    try {
      req = request(url, { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': body.length }, timeout: timeoutMs }, (res) => {
        res.resume();
        const ok = res.statusCode !== undefined && res.statusCode >= 200 && res.statusCode < 300;
        resolve(ok ? undefined : `webhook ${url}: HTTP ${res.statusCode}`);
      });
    } catch (e) {
      resolve(`webhook ${url}: ${(e as Error).message}`);
      return;
    }
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (e) => resolve(`webhook ${url}: ${e.message}`));
    req.end(body);
  });
}

/** Runs every configured hook for one event; returns the failures. */
export async function fireAlertHooks(hooks: AlertHooks, event: object): Promise<string[]> {
  const jobs: Promise<string | undefined>[] = [];
  if (hooks.exec) jobs.push(runExecHook(hooks.exec, event, hooks.timeoutMs));
  if (hooks.webhook) jobs.push(postWebhook(hooks.webhook, event, hooks.timeoutMs));
  return (await Promise.all(jobs)).filter((m): m is string => m !== undefined);
}
