/** salvor's programmatic API (CommonJS and ES module alike; docs/api.md). */
import { resolve } from 'node:path';
import { openKernelNvramDevice } from './platform/linux/nvram-device';
import { formatNvram as formatWith, type FormatOptions, type FormatResult } from './lib/nvram/format';
import { openStore } from './lib/nvram/open';
import type { SalvorNvram } from './lib/nvram/salvor-store';
import type { NvramStore } from './lib/nvram/store';

export { SalvorError } from './bindings/salvor-error';
export { crc32, crc32c, crc32cBackend } from './bindings/crc';
export { encodePageDelta, applyPageDelta, encodePageDeltas, applyPageDeltas } from './lib/replication/page-delta';
export type { CheckReport, RecoverReport, NvramStore, NvramValue, NvramEntry, SectorFinding } from './lib/nvram/store';
export type { SalvorNvram } from './lib/nvram/salvor-store';
export { parseUbootConfig } from './lib/nvram/uboot/fw-env-config';

export interface OpenNvramOptions {
  /** A salvor-format device: image file, nvmem device, block or mtdblock partition. */
  device?: string;
  /** A U-Boot environment, described by a fw_env.config file (instead of device). */
  ubootConfig?: string;
  /** Open for writing (set, unset, recover, writeSectors). Default false. */
  writable?: boolean;
  /** Where geometry and defaults recorded at format live. Default $SALVOR_STATE_DIR, else ./var. */
  stateDir?: string;
  sectorSize?: number;
  defaultsPath?: string;
  lockTimeoutMs?: number;
}

function stateDirOf(dir: string | undefined): string {
  return resolve(dir ?? (process.env.SALVOR_STATE_DIR || 'var'));
}

/** Opens an NVRAM. With `device`, the result is a SalvorNvram (key-value store plus raw sector access). */
export function openNvram(options: OpenNvramOptions & { device: string; ubootConfig?: undefined }): Promise<SalvorNvram>;
export function openNvram(options: OpenNvramOptions): Promise<NvramStore>;
export function openNvram(options: OpenNvramOptions): Promise<NvramStore> {
  return openStore({ ...options, writable: options.writable ?? false, stateDir: stateDirOf(options.stateDir) }, openKernelNvramDevice);
}

/** Lays out a fresh salvor-format NVRAM (see `salvor nvram format`). */
export function formatNvram(device: string, options: Omit<FormatOptions, 'stateDir'> & { stateDir?: string }): Promise<FormatResult> {
  return formatWith(device, openKernelNvramDevice, { ...options, stateDir: stateDirOf(options.stateDir) });
}
