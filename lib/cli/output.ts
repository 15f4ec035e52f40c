import { readFileSync } from 'node:fs';
import { SalvorError, badInputCodes } from '../../bindings/salvor-error';
import { Exit, type ExitCode } from './exit-codes';

/** Where a command writes: with --json, one JSON object on stdout and human text on stderr. */
export interface Output {
  json: boolean;
  /** The command's result: printed as JSON with --json, otherwise through `human`. */
  result(value: unknown, human: () => string): void;
  /** Human progress and notes: stderr, never mixed into JSON on stdout. */
  note(line: string): void;
}

export function makeOutput(json: boolean): Output {
  return {
    json,
    result(value, human) {
      if (json) process.stdout.write(JSON.stringify(value) + '\n');
      else {
        const text = human();
        if (text) process.stdout.write(text.endsWith('\n') ? text : text + '\n');
      }
    },
    note(line) {
      process.stderr.write(line + '\n');
    },
  };
}

/** Maps an error to its exit code: bad input 16, anything else operational 8. */
export function exitCodeFor(err: unknown): ExitCode {
  if (err instanceof SalvorError && badInputCodes.has(err.code)) return Exit.usage;
  return Exit.operational;
}

/** Prints a failure as one line (and as {"error":...} on stdout with --json). */
export function reportError(err: unknown, json: boolean): ExitCode {
  const code = exitCodeFor(err);
  const e = err as SalvorError;
  const message = String(e?.message ?? err).split('\n')[0];
  process.stderr.write(`salvor: ${message}\n`);
  if (json) {
    const detail: Record<string, unknown> = { code: e?.code ?? 'SALVOR_ERROR', message };
    for (const k of ['errno', 'syscall', 'path'] as const) if (e?.[k] !== undefined) detail[k] = e[k];
    process.stdout.write(JSON.stringify({ error: detail }) + '\n');
  }
  return code;
}

/** A usage error: wrong flag, missing argument, malformed value. Always exit 16. */
export function usageError(message: string, path?: string): SalvorError {
  return new SalvorError('SALVOR_USAGE', message, path === undefined ? {} : { path });
}

/** Reads a file a flag names; failures name the flag and the file (`--trace /tmp: is a directory, not a file`). */
export function readInputFile(flag: string, path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    const err = SalvorError.fromNode(e, path);
    const why: Record<string, string> = { EISDIR: 'is a directory, not a file', ENOENT: 'no such file', EACCES: 'permission denied' };
    throw new SalvorError(err.code, `${flag} ${path}: ${why[err.code] ?? err.message}`, { errno: err.errno, syscall: err.syscall, path });
  }
}
