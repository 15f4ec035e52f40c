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

/** Starts the CLI; returns the child and a promise of its result. */
export function startCli(args: string[]): { child: ReturnType<typeof spawn>; done: Promise<CliRun> } {
  const child = spawn('env', ['-u', 'NODE_OPTIONS', process.execPath, cliPath, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<CliRun>((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
  return { child, done };
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
