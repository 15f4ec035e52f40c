import { mkdir, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { crc32c } from '../../bindings/crc';
import { SalvorError } from '../../bindings/salvor-error';
import { readStateFile } from '../state-file/read-state-file';
import { writeFileAtomic } from '../state-file/write-file-atomic';
import type { HardwareStatus, TeeLogin } from './client';

/** Escalation levels, in order: restart the TA, then the supplicant, then the TEE OS; past these a platform reboot. */
export type RecoveryLevel = 'ta' | 'supplicant' | 'tee-os';
export const levels: readonly RecoveryLevel[] = ['ta', 'supplicant', 'tee-os'];

/** A request that had not been answered when the TEE crashed; replayed once the TEE is back. */
export interface PendingRecord {
  idempotencyKey: string;
  key: string;
  /** base64 */
  message: string;
  /** ms since the epoch */
  deadline: number;
}

/**
 * What recovery keeps on disk (STATE/tee/recovery.json, docs/tee.md): the hardware status and the REE
 * security context as they were at the crash, and how far recovery got. Written whole (temporary +
 * rename + fsync) before the first restart, so an agent killed during recovery resumes it.
 */
export interface RecoveryRecord {
  cause: string;
  crashAt: number;
  level: RecoveryLevel;
  attempts: number;
  hardwareStatus: HardwareStatus & { source: 'read-at-crash' | 'last-known' };
  ree: {
    sessions: { uuid: string; login: TeeLogin }[];
    sharedMemory: { size: number }[];
    pending: PendingRecord[];
    counters: { signatures: number };
  };
}

const FORMAT = 'salvor-tee-recovery';
const VERSION = 1;

export async function saveRecord(path: string, record: RecoveryRecord): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const body = JSON.stringify(record);
  const text = JSON.stringify({ format: FORMAT, version: VERSION, crc32c: crc32c(Buffer.from(body)), record: JSON.parse(body) as RecoveryRecord });
  await writeFileAtomic(path, text + '\n', { durable: true });
}

/** The record left by an unfinished recovery, or undefined when there is none. A damaged one is an error naming it. */
export async function loadRecord(path: string): Promise<RecoveryRecord | undefined> {
  const text = await readStateFile(path);
  if (text === undefined) return undefined;
  let doc: { format?: string; version?: number; crc32c?: number; record?: RecoveryRecord };
  try {
    doc = JSON.parse(text) as typeof doc;
  } catch {
    throw new SalvorError('SALVOR_BAD_INPUT', `${path}: not JSON`, { path });
  }
  if (doc.format !== FORMAT || doc.version !== VERSION) throw new SalvorError('SALVOR_BAD_INPUT', `${path}: not a ${FORMAT} v${VERSION} record`, { path });
  if (!doc.record || crc32c(Buffer.from(JSON.stringify(doc.record))) !== doc.crc32c) throw new SalvorError('SALVOR_BAD_INPUT', `${path}: checksum mismatch`, { path });
  return doc.record;
}

export async function clearRecord(path: string): Promise<void> {
  await unlink(path).catch((e: NodeJS.ErrnoException) => {
    if (e.code !== 'ENOENT') throw SalvorError.fromNode(e, path);
  });
}
