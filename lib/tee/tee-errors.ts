import { SalvorError } from '../../bindings/salvor-error';

/** GlobalPlatform TEE Client API result codes (TEEC_ERROR_*) as OP-TEE and the sim return them. */
export const Teec = {
  SUCCESS: 0x00000000,
  GENERIC: 0xffff0000,
  ACCESS_DENIED: 0xffff0001,
  CANCEL: 0xffff0002,
  BAD_FORMAT: 0xffff0005,
  BAD_PARAMETERS: 0xffff0006,
  BAD_STATE: 0xffff0007,
  ITEM_NOT_FOUND: 0xffff0008,
  NOT_IMPLEMENTED: 0xffff0009,
  NOT_SUPPORTED: 0xffff000a,
  NO_DATA: 0xffff000b,
  OUT_OF_MEMORY: 0xffff000c,
  BUSY: 0xffff000d,
  COMMUNICATION: 0xffff000e,
  SECURITY: 0xffff000f,
  SHORT_BUFFER: 0xffff0010,
  TARGET_DEAD: 0xffff3024,
} as const;

/** Where a TEEC result came from (TEEC_ORIGIN_*). */
export const TeecOrigin = { API: 1, COMMS: 2, TEE: 3, TRUSTED_APP: 4 } as const;

const teecNames = new Map<number, string>(Object.entries(Teec).map(([k, v]) => [v, k]));

/**
 * What each TEEC result means to salvor. Failures that say the TEE or its transport broke
 * (recoverable by restarting a TA or the TEE OS) are the `crash` ones; the others are the caller's
 * problem or a plain refusal.
 */
const teecCodes: Record<number, string> = {
  [Teec.TARGET_DEAD]: 'SALVOR_TEE_TARGET_DEAD',
  [Teec.COMMUNICATION]: 'SALVOR_TEE_COMMS',
  [Teec.BAD_STATE]: 'SALVOR_TEE_BAD_STATE',
  [Teec.ITEM_NOT_FOUND]: 'SALVOR_BAD_INPUT',
  [Teec.BAD_PARAMETERS]: 'SALVOR_TEE_BAD_PARAMETERS',
  [Teec.BAD_FORMAT]: 'SALVOR_TEE_BAD_FORMAT',
  [Teec.ACCESS_DENIED]: 'EACCES',
  [Teec.OUT_OF_MEMORY]: 'ENOMEM',
  [Teec.BUSY]: 'EBUSY',
  [Teec.CANCEL]: 'ECANCELED',
  [Teec.SECURITY]: 'SALVOR_TEE_SECURITY',
  [Teec.SHORT_BUFFER]: 'SALVOR_TEE_SHORT_BUFFER',
  [Teec.NOT_SUPPORTED]: 'ENOTSUP',
  [Teec.NOT_IMPLEMENTED]: 'ENOSYS',
};

/** Codes after which the TEE (or one TA) must be recovered before requests can go on. */
export const crashCodes = new Set(['SALVOR_TEE_TARGET_DEAD', 'SALVOR_TEE_COMMS', 'SALVOR_TEE_TIMEOUT', 'SALVOR_TEE_CORRUPT', 'SALVOR_TEE_BAD_STATE']);

/** A failed TEE call: the SalvorError code, plus the TEEC result and origin when the TEE gave them. */
export class TeeError extends SalvorError {
  constructor(
    code: string,
    message: string,
    readonly teec?: number,
    readonly origin?: number,
    details: { errno?: number; syscall?: string; path?: string } = {},
  ) {
    super(code, message, details);
    this.name = 'TeeError';
  }
}

export function teecName(result: number): string {
  return teecNames.get(result >>> 0) ?? `0x${(result >>> 0).toString(16).padStart(8, '0')}`;
}

/** Turns a TEEC result and origin into a TeeError naming the call (`what`). */
export function teecError(result: number, origin: number, what: string): TeeError {
  const r = result >>> 0;
  const code = teecCodes[r] ?? 'SALVOR_TEE_ERROR';
  const from = Object.entries(TeecOrigin).find(([, v]) => v === origin)?.[0] ?? String(origin);
  return new TeeError(code, `${what}: TEEC_ERROR_${teecName(r)} (origin ${from})`, r, origin);
}

/** True when this failure means the TEE needs recovery (rather than the request being wrong). */
export function isCrash(err: unknown): boolean {
  return err instanceof SalvorError && crashCodes.has(err.code);
}

/**
 * A failed driver call (an errno from /dev/teeN) as a TeeError: the device or the TEE behind it gone
 * or interrupted is a communication failure (recovery); bad arguments, permissions and memory keep
 * their own codes. The errno and syscall stay on the error.
 */
export function errnoTeeError(err: SalvorError, what: string): TeeError {
  const comms = ['ENODEV', 'ENXIO', 'EIO', 'EPIPE', 'ECONNRESET', 'EINTR', 'ENOENT', 'EBADF', 'ESHUTDOWN'];
  const code = comms.includes(err.code) ? 'SALVOR_TEE_COMMS' : err.code === 'EINVAL' ? 'SALVOR_TEE_BAD_PARAMETERS' : err.code === 'EPERM' ? 'EACCES' : err.code;
  return new TeeError(code, `${what}: ${err.message}`, undefined, TeecOrigin.COMMS, { errno: err.errno, syscall: err.syscall, path: err.path });
}
