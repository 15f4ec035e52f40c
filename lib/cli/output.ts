import { AsyncLocalStorage } from 'node:async_hooks';
import { readFileSync } from 'node:fs';
import { SalvorError, badInputCodes } from '../../bindings/salvor-error';
import { Exit, type ExitCode } from './exit-codes';

/** Where one CLI run writes and leaves its exit code: the process's streams, or those runCli was given. */
export interface CliStreams {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
  exitCode?: number;
}

const inProcess = new AsyncLocalStorage<CliStreams>();
const processStreams: CliStreams = {
  stdout: process.stdout,
  stderr: process.stderr,
  set exitCode(code: number | undefined) {
    process.exitCode = code;
  },
  get exitCode() {
    return typeof process.exitCode === 'number' ? process.exitCode : undefined;
  },
};

/** The streams of the CLI run this code belongs to (each in-process run has its own). */
export function cliStreams(): CliStreams {
  return inProcess.getStore() ?? processStreams;
}

/** Runs `fn` with its CLI output going to `streams` (and its exit code left there). */
export function withCliStreams<T>(streams: CliStreams, fn: () => T): T {
  return inProcess.run(streams, fn);
}

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
      if (json) cliStreams().stdout.write(JSON.stringify(value) + '\n');
      else {
        const text = human();
        if (text) cliStreams().stdout.write(text.endsWith('\n') ? text : text + '\n');
      }
    },
    note(line) {
      cliStreams().stderr.write(line + '\n');
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
  cliStreams().stderr.write(`salvor: ${message}\n`);
  if (json) {
    const detail: Record<string, unknown> = { code: e?.code ?? 'SALVOR_ERROR', message };
    for (const k of ['errno', 'syscall', 'path'] as const) if (e?.[k] !== undefined) detail[k] = e[k];
    cliStreams().stdout.write(JSON.stringify({ error: detail }) + '\n');
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
