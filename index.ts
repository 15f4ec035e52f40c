/** salvor's programmatic API (CommonJS and ES module alike; docs/api.md). */
import { resolve } from 'node:path';
import { openKernelNvramDevice } from './platform/linux/nvram-device';
import { formatNvram as formatWith, type FormatOptions, type FormatResult } from './lib/nvram/format';
import { openStore } from './lib/nvram/open';
import type { SalvorNvram } from './lib/nvram/salvor-store';
import type { NvramStore } from './lib/nvram/store';
import { TrackedRegion, type TrackerDecisionEvent } from './lib/replication/tracked-region';
import type { BackendChoice } from './lib/replication/dirty-tracker';
import { linuxTrackerCosts, openLinuxMemory } from './platform/linux/tracked-memory';

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
  return openStore({ ...options, writable: options.writable ?? false, stateDir: stateDirOf(options.stateDir) }, openKernelNvramDevice);
}

/** Lays out a fresh salvor-format NVRAM (see `salvor nvram format`). */
export function formatNvram(device: string, options: Omit<FormatOptions, 'stateDir'> & { stateDir?: string }): Promise<FormatResult> {
  return formatWith(device, openKernelNvramDevice, { ...options, stateDir: stateDirOf(options.stateDir) });
}

export type { PageRun, TrackerKind, BackendChoice } from './lib/replication/dirty-tracker';
export type { TrackedRegion, TrackerDecisionEvent } from './lib/replication/tracked-region';

export interface OpenRegionOptions {
  /** Anonymous memory owned by salvor (a multiple of the 4096-byte page size). */
  size?: number;
  /** A shared-memory or regular file (a whole number of pages), mapped shared; any process may write it. */
  path?: string;
  /** Tracker: 'auto' (default) or one of 'uffd-wp', 'soft-dirty', 'mprotect', 'hash'. */
  backend?: BackendChoice;
  /** Threads for the hash scan (default: up to 4). */
  hashThreads?: number;
  onDecision?: (event: TrackerDecisionEvent) => void;
}

/** Opens a region whose written pages `collect()` reports round by round (docs/replication.md). */
export async function openRegion(options: OpenRegionOptions): Promise<TrackedRegion> {
  const kinds = ['auto', 'uffd-wp', 'soft-dirty', 'mprotect', 'hash'];
  if (options.backend !== undefined && !kinds.includes(options.backend))
    throw new SalvorError('SALVOR_BAD_INPUT', `backend '${String(options.backend)}' is not one of ${kinds.join(', ')}`);
  const memory = openLinuxMemory(options);
  return TrackedRegion.open(memory, { backend: options.backend ?? 'auto', costs: await linuxTrackerCosts(), onDecision: options.onDecision });
}

export { Primary, type PrimaryOptions, type ReplicationEvent } from './lib/replication/primary';
export { Standby, type StandbyOptions } from './lib/replication/standby';
export { ReplicaStore, type ReplicaMeta } from './lib/replication/replica-store';
export type { Link, Listener, LinkOptions, TransportBackend } from './lib/transport/link';
export { tcpTransport } from './platform/linux/transport-tcp';
export { serialTransport } from './platform/linux/transport-serial';
