import { constants } from 'node:os';

/** Every failure salvor reports: a stable code, plus the errno/syscall/path when the OS said no. */
export class SalvorError extends Error {
  readonly code: string;
  readonly errno: number | undefined;
  readonly syscall: string | undefined;
  readonly path: string | undefined;

  constructor(code: string, message: string, details: { errno?: number; syscall?: string; path?: string } = {}) {
    super(message);
    this.name = 'SalvorError';
    this.code = code;
    this.errno = details.errno;
    this.syscall = details.syscall;
    this.path = details.path;
  }

  /** Builds a SalvorError from what native code threw (negative errno + syscall, or a SALVOR_* code). */
  static fromNative(raw: unknown, path?: string): SalvorError {
    if (raw instanceof SalvorError) return raw;
    const e = raw as { message?: string; errno?: number; syscall?: string; path?: string; code?: string };
    const errno = typeof e?.errno === 'number' ? e.errno : undefined;
    const code = e?.code ?? (errno !== undefined ? errnoName(errno) : 'SALVOR_NATIVE');
    const where = path ?? e?.path;
    const message = String(e?.message ?? raw) + (path && !String(e?.message).includes(path) ? ` (${path})` : '');
    return new SalvorError(code, message, { errno, syscall: e?.syscall, path: where });
  }

  /** Wraps a Node fs error (which already has code/errno/syscall/path). */
  static fromNode(raw: unknown, path?: string): SalvorError {
    const e = raw as NodeJS.ErrnoException;
    if (raw instanceof SalvorError) return raw;
    return new SalvorError(e.code ?? 'SALVOR_IO', e.message, { errno: e.errno, syscall: e.syscall, path: path ?? e.path });
  }
}

const errnoNames = new Map<number, string>(Object.entries(constants.errno).map(([name, n]) => [n, name]));

/** Negative or positive errno to its name, as Node's fs errors spell it (ENOENT, EACCES, ...). */
export function errnoName(errno: number): string {
  return errnoNames.get(Math.abs(errno)) ?? `ERRNO_${Math.abs(errno)}`;
}

/** Codes that mean the caller gave bad input (CLI exit 16) rather than the system failing (exit 8). */
export const badInputCodes = new Set(['SALVOR_USAGE', 'SALVOR_BAD_INPUT', 'SALVOR_BAD_CONFIG', 'SALVOR_EINVAL', 'ENOENT', 'ENOTDIR', 'EISDIR']);
