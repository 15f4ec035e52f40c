/** Runs the shipping binary (dist/tools/salvor.js, built by `npm test` first) as an operator's script would. */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export const root = join(__dirname, '..', '..');
export const cliPath = join(root, 'dist', 'tools', 'salvor.js');

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** One run to completion (NODE_OPTIONS dropped so the binary runs as it ships); runs may overlap. */
export function salvor(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliRun> {
  if (!existsSync(cliPath)) throw new Error(`${cliPath} is missing: run \`npx tsc -p .\` (npm test does it first)`);
  const { NODE_OPTIONS: _drop, ...base } = process.env;
  return new Promise((resolve) => {
    execFile(process.execPath, [cliPath, ...args], { cwd: root, env: { ...base, ...env }, encoding: 'utf8', timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : null) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}
