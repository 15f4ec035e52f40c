/**
 * The TEE client every backend implements (platform/linux over /dev/teeN, platform/sim over a
 * simulated TEE OS in a child process). The contract, pinned by test/tee/client-contract.ts:
 * - every call takes a deadline; past it the call is cancelled where the backend can, and rejects
 *   with SALVOR_TEE_TIMEOUT (a panicked core never answers);
 * - failures are TeeErrors: SALVOR_TEE_TARGET_DEAD (TEEC_ERROR_TARGET_DEAD, origin TEE), SALVOR_TEE_COMMS
 *   (the transport to the TEE broke), SALVOR_TEE_CORRUPT (a reply failed its check), SALVOR_TEE_BAD_STATE
 *   (the TEE refuses to serve, e.g. its hardware status was not restored), others per lib/tee/tee-errors;
 * - after `restart()` every session and shared memory registration is gone, and the hardware status
 *   registers hold their reset values until `writeHardwareStatus` sets them;
 * - `close()` is idempotent.
 */

export type TeeLogin = 'public' | 'user' | 'group' | 'application';

/** One invoke parameter: a pair of 32-bit values, or a memory reference (in and out). */
export type TeeParam = { type: 'none' } | { type: 'value'; a: number; b: number } | { type: 'memref'; data: Buffer; shm?: number };

/** Hardware status parameters, by name; `readOnly` ones (boot count, reset reason) are never restored. */
export interface HardwareStatus {
  registers: Record<string, number>;
  readOnly: string[];
}

export type TeeFault = 'panic' | 'ta-panic' | 'hang' | 'corrupt';
export const teeFaults: readonly TeeFault[] = ['panic', 'ta-panic', 'hang', 'corrupt'];

/** A crash the platform reported by itself (the sim's panic line, a remoteproc crash state). */
export interface TeeCrashNotice {
  at: number;
  reason: string;
}

export interface TeeClient {
  /** 'sim' or 'linux'. */
  readonly backend: string;
  /** Whether `inject` exists (the simulated backend only). */
  readonly injectable: boolean;
  /** How long the last `restart()` took the TEE OS itself, from stop to ready, in ms. */
  readonly lastRestartMs: number | undefined;
  onCrash(listener: (notice: TeeCrashNotice) => void): void;
  openSession(uuid: string, login: TeeLogin, deadlineMs: number): Promise<number>;
  closeSession(session: number, deadlineMs: number): Promise<void>;
  /** Runs one TA command; resolves with the parameters as the TA left them (memrefs hold their output). */
  invoke(session: number, command: number, params: TeeParam[], deadlineMs: number): Promise<TeeParam[]>;
  registerSharedMemory(size: number, deadlineMs: number): Promise<number>;
  releaseSharedMemory(id: number, deadlineMs: number): Promise<void>;
  readHardwareStatus(deadlineMs: number): Promise<HardwareStatus>;
  writeHardwareStatus(registers: Record<string, number>, deadlineMs: number): Promise<void>;
  /** Restarts the supplicant (the REE service the TEE calls back into), where the platform has one. */
  restartSupplicant?(deadlineMs: number): Promise<void>;
  /** Restarts the TEE OS; resolves once it answers again. */
  restart(deadlineMs: number): Promise<void>;
  inject?(fault: TeeFault): Promise<void>;
  close(): Promise<void>;
}

/** Opens a TeeClient; the composition root picks the backend. */
export type TeeClientOpener = () => Promise<TeeClient>;
