/**
 * Runs native calls where a crash cannot take tap down: a child node process loads the compiled
 * addon wrapper from dist/ (run `npx tsc -p .` first; `npm test` does) and runs a script. An abort,
 * a segfault or a double free shows up as the child's signal or exit status, which the test asserts on.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import type { Test } from 'tap';

/** The compiled tree the child loads (SALVOR_TEST_DIST points it at another build, to compare builds). */
export const DIST = process.env.SALVOR_TEST_DIST ?? join(__dirname, '..', '..', 'dist');

export interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs `script` (CommonJS; `DIST` is defined in it) in a fresh node with --expose-gc; resolves when it exits. */
export function runChild(script: string, timeoutMs = 60_000): Promise<ChildResult> {
  const child = spawn(process.execPath, ['--expose-gc', '-e', `const DIST = ${JSON.stringify(DIST)};\n${script}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  return new Promise((resolve) =>
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    }),
  );
}

/** Asserts the child ran to a clean exit; on failure the message carries how it died and its stderr. */
export function assertCleanExit(t: Test, r: ChildResult, what: string): void {
  t.ok(r.code === 0 && r.signal === null, `${what}: exits 0 (got ${r.signal ?? `status ${r.code}`}${r.code === 0 ? '' : `: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`})`);
}
