/** Shared by the leak tests: the shipping binary (dist/tools/salvor.js) and a temporary directory. */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';

export const cliPath = join(__dirname, '..', '..', 'dist', 'tools', 'salvor.js');

export function tempDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'salvor-leak-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI to completion (NODE_OPTIONS dropped so the binary runs as it ships). */
export function runCli(args: string[]): CliRun {
  const r = spawnSync('env', ['-u', 'NODE_OPTIONS', process.execPath, cliPath, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Starts the CLI; returns the child, a promise of its result, and a wait for its output so far to satisfy `pred`. */
export function startCli(args: string[]): {
  child: ReturnType<typeof spawn>;
  done: Promise<CliRun>;
  waitFor(pred: (out: { stdout: string; stderr: string }) => boolean, what: string): Promise<void>;
} {
  const child = spawn('env', ['-u', 'NODE_OPTIONS', process.execPath, cliPath, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let ended = false;
  const waiters: (() => void)[] = [];
  const wake = () => waiters.splice(0).forEach((w) => w());
  child.stdout?.on('data', (d: Buffer) => ((stdout += d.toString()), wake()));
  child.stderr?.on('data', (d: Buffer) => ((stderr += d.toString()), wake()));
  const done = new Promise<CliRun>((resolve) => child.on('close', (code) => ((ended = true), wake(), resolve({ code, stdout, stderr }))));
  // Waits on the output itself, not a clock: a loaded machine only makes it later.
  const waitFor = async (pred: (out: { stdout: string; stderr: string }) => boolean, what: string): Promise<void> => {
    while (!pred({ stdout, stderr })) {
      if (ended) throw new Error(`the CLI ended before ${what}: ${stderr.slice(-300)}`);
      await new Promise<void>((r) => waiters.push(r));
    }
  };
  return { child, done, waitFor };
}

/** Resolves once the child's stderr has printed `pattern` (the CLI is ready), or rejects when it exits first. */
export function stderrShows(child: ReturnType<typeof spawn>, pattern: RegExp): Promise<void> {
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (d: Buffer) => {
      text += d.toString();
      if (pattern.test(text)) {
        child.stderr?.off('data', onData);
        resolve();
      }
    };
    child.stderr?.on('data', onData);
    child.once('exit', (code) => reject(new Error(`exited (${code}) before printing ${pattern}: ${text}`)));
  });
}
