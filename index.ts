/** salvor's programmatic API (CommonJS and ES module alike; docs/api.md). */
import { resolve } from 'node:path';
import { formatNvram as formatWith, type FormatOptions, type FormatResult } from './lib/nvram/format';
import { openStore } from './lib/nvram/open';
import type { SalvorNvram } from './lib/nvram/salvor-store';
import type { NvramStore } from './lib/nvram/store';
import type { TrackedRegion } from './lib/replication/tracked-region';
import { machinePlatform, type OpenRegionOptions } from './tools/platform';

import { SalvorError } from './bindings/salvor-error';
export { SalvorError };
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
  // The CLI's device opener: SALVOR_FAULT injects the same power cuts here as under `salvor nvram`.
  return openStore({ ...options, writable: options.writable ?? false, stateDir: stateDirOf(options.stateDir) }, machinePlatform().openNvramDevice);
}

/** Lays out a fresh salvor-format NVRAM (see `salvor nvram format`). */
export function formatNvram(device: string, options: Omit<FormatOptions, 'stateDir'> & { stateDir?: string }): Promise<FormatResult> {
  return formatWith(device, machinePlatform().openNvramDevice, { ...options, stateDir: stateDirOf(options.stateDir) });
}

export type { PageRun, TrackerKind, BackendChoice } from './lib/replication/dirty-tracker';
export type { TrackedRegion, TrackerDecisionEvent } from './lib/replication/tracked-region';

export type { OpenRegionOptions } from './tools/platform';

/** Opens a region whose written pages `collect()` reports round by round (docs/replication.md). */
export function openRegion(options: OpenRegionOptions): Promise<TrackedRegion> {
  return machinePlatform().openTrackedRegion(options);
}

export { Primary, type PrimaryOptions, type ReplicationEvent } from './lib/replication/primary';
export { Standby, type StandbyOptions } from './lib/replication/standby';
export { ReplicaStore, type ReplicaMeta } from './lib/replication/replica-store';
export type { Link, Listener, LinkOptions, TransportBackend } from './lib/transport/link';
export { tcpTransport } from './platform/linux/transport-tcp';
export { serialTransport } from './platform/linux/transport-serial';
