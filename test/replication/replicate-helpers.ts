import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import { hashPages } from '../../bindings/hash-scan';
import { regionDigest } from '../../lib/replication/replica-store';
import { KEY } from './in-process-nodes';

export const CLI = join(__dirname, '..', '..', 'dist', 'tools', 'salvor.js');

export interface Agent {
  proc: ChildProcess;
  events: Record<string, unknown>[];
  waitFor(pred: (e: Record<string, unknown>) => boolean, ms?: number): Promise<Record<string, unknown>>;
  exited: Promise<number | null>;
}

/** Starts `salvor replicate ...` with --json and collects its events. */
export function agent(args: string[], stateDir: string, env: Record<string, string> = {}): Agent {
  const proc = spawn(process.execPath, [CLI, 'replicate', ...args, '--json'], { env: { ...process.env, SALVOR_STATE_DIR: stateDir, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const events: Record<string, unknown>[] = [];
  const waiters: (() => void)[] = [];
  createInterface({ input: proc.stdout! }).on('line', (line) => {
    try {
      events.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      events.push({ event: 'unparsed', line });
    }
    for (const w of waiters.splice(0)) w();
  });
  let stderr = '';
  proc.stderr!.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  // Once its output has ended, nothing the agent has not said will come: waits still open end then
  // (also a wait that lost a Promise.race), so no timer outlives the agent.
  const giveUps = new Set<() => void>();
  proc.on('close', () => {
    for (const giveUp of giveUps) giveUp();
  });
  return {
    proc,
    events,
    exited,
    waitFor(pred, ms = 15000) {
      return new Promise((resolve, reject) => {
        const fail = (why: string) => {
          clearTimeout(timer);
          giveUps.delete(giveUp);
          reject(new Error(`${why}; events: ${events.map((e) => e.event).join(',')}; stderr: ${stderr.slice(-500)}`));
        };
        const giveUp = () => fail('the agent ended first');
        const timer = setTimeout(() => fail('timed out'), ms);
        giveUps.add(giveUp);
        const check = () => {
          const hit = events.find(pred);
          if (hit) {
            clearTimeout(timer);
            giveUps.delete(giveUp);
            resolve(hit);
          } else waiters.push(check);
        };
        check();
      });
    },
  };
}

/** A process that keeps writing random bytes into random pages of a file until killed. */
export function writer(file: string, pages: number): ChildProcess {
  return spawn(process.execPath, [
    '-e',
    `const fs=require('fs');const fd=fs.openSync(${JSON.stringify(file)},'r+');
     setInterval(()=>{for(let k=0;k<8;k++){const b=Buffer.from([Math.random()*256|0,Math.random()*256|0]);
     fs.writeSync(fd,b,0,2,(Math.random()*${pages}|0)*4096+(Math.random()*4094|0))}},1)`,
  ]);
}

export function workspace(): { dir: string; psk: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'salvor-repl-cli-'));
  const psk = join(dir, 'psk');
  writeFileSync(psk, `${KEY.toString()}\n`); // the key in-process nodes use too
  return { dir, psk, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The digest a replica file's bytes give (what its meta records for an epoch it committed). */
export function fileDigest(path: string): string {
  const bytes = readFileSync(path);
  const hashes = Buffer.alloc((bytes.length / 4096) * 8);
  hashPages(bytes, 4096, hashes);
  return regionDigest(hashes);
}

let port = 7800 + Math.floor(Math.random() * 500);
export const nextUrl = () => `tcp://127.0.0.1:${port++}`;

/**
 * Waits until two files hold the same bytes (the writer has stopped, so the replica must converge
 * within a few epochs; epoch events lag behind the cuts, so the bytes are what is compared).
 */
export async function converges(a: string, b: string, ms = 30000): Promise<boolean> {
  const until = Date.now() + ms;
  for (;;) {
    if (readFileSync(a).equals(readFileSync(b))) return true;
    if (Date.now() > until) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * A workspace (removed at teardown) with a random region of `pages` pages and a primary serving it at
 * `listen` (killed at teardown), once it has said `serving`, and the URL it serves (the port it got for port 0).
 */
export async function servingPrimary(
  t: { teardown: (fn: () => unknown) => void },
  pages: number,
  listen: string,
  extra: string[],
  env: Record<string, string> = {},
): Promise<{ w: ReturnType<typeof workspace>; region: string; primary: Agent; url: string }> {
  const w = workspace();
  t.teardown(w.cleanup);
  const region = join(w.dir, 'region.bin');
  writeFileSync(region, randomBytes(pages * 4096));
  const primary = agent(['primary', '--region', region, '--listen', listen, '--psk-file', w.psk, ...extra], join(w.dir, 'p'), env);
  t.teardown(() => primary.proc.kill('SIGKILL'));
  const serving = await primary.waitFor((e) => e.event === 'serving');
  return { w, region, primary, url: String(serving.url) };
}
