import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

export const CLI = join(__dirname, '..', '..', 'dist', 'tools', 'salvor.js');
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export function workdir(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'salvor-daemon-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A config for tests: quick intervals, the HTTP endpoint on `port`, state under `dir`. */
export function fastConfig(dir: string, port: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    stateDir: join(dir, 'var'),
    http: { listen: `127.0.0.1:${port}` },
    supervisor: { healthIntervalMs: 200, restartInitialMs: 100, stopTimeoutMs: 3000 },
    capabilities: {
      nvram: { checkIntervalMs: 300 },
      replication: { intervalMs: 50, timeoutMs: 1000, regionSize: 65536 },
      leak: { intervalMs: 200 },
    },
    ...extra,
  };
}

export function writeConfig(path: string, config: unknown): string {
  writeFileSync(path, typeof config === 'string' ? config : JSON.stringify(config, null, 2));
  return path;
}

/** Waits until `items` (filled as output arrives) holds one that `pred` accepts; fails after `ms` with `why()`. */
async function firstOf<T>(items: T[], pred: (item: T) => boolean, ms: number, why: () => string): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const hit = items.find(pred);
    if (hit !== undefined) return hit;
    if (Date.now() > until) throw new Error(why());
    await sleep(20);
  }
}

/** A datagram socket bound by a helper process (Node has no datagram unix sockets): the service manager's side. */
export async function notifyReceiver(path: string): Promise<{ messages: string[]; waitFor(pred: (m: string) => boolean, ms?: number): Promise<string>; close(): void }> {
  const py = `import socket,sys
s=socket.socket(socket.AF_UNIX,socket.SOCK_DGRAM);s.bind(sys.argv[1]);print('bound',flush=True)
while True: print(s.recv(65536).decode().replace(chr(10),'|'),flush=True)`;
  const proc = spawn('python3', ['-c', py, path], { stdio: ['ignore', 'pipe', 'inherit'] });
  const messages: string[] = [];
  const lines = createInterface({ input: proc.stdout! });
  await new Promise<void>((resolve) => lines.once('line', () => resolve()));
  lines.on('line', (l) => messages.push(l));
  return {
    messages,
    waitFor: (pred, ms = 15000) => firstOf(messages, pred, ms, () => `no such notify message; got: ${messages.slice(-10).join(' / ')}`),
    close: () => proc.kill('SIGKILL'),
  };
}

export interface DaemonProc {
  proc: ChildProcess;
  logs: Record<string, unknown>[];
  stderr: () => string;
  exited: Promise<number | null>;
  waitLog(pred: (l: Record<string, unknown>) => boolean, ms?: number): Promise<Record<string, unknown>>;
}

/** Starts `salvor daemon ARGS` and collects its JSON log lines. */
export function daemon(args: string[], env: Record<string, string> = {}): DaemonProc {
  const proc = spawn(process.execPath, [CLI, 'daemon', ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: Record<string, unknown>[] = [];
  createInterface({ input: proc.stdout! }).on('line', (line) => {
    try {
      logs.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      logs.push({ event: 'not-json', line });
    }
  });
  let err = '';
  proc.stderr!.on('data', (d) => (err += d));
  const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));
  return {
    proc,
    logs,
    stderr: () => err,
    exited,
    waitLog: (pred, ms = 15000) => firstOf(logs, pred, ms, () => `no such log line; last: ${JSON.stringify(logs.slice(-5))}; stderr: ${err.slice(-300)}`),
  };
}

/** Runs the CLI to its end. */
export function cli(args: string[], options: { env?: Record<string, string>; uid?: number; gid?: number } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...options.env }, uid: options.uid, gid: options.gid });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}
