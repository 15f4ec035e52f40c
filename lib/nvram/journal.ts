import { crc32, crc32c } from '../../bindings/crc';
import { JOURNAL_SECTOR, sealSector, sectorIsValid, type Geometry } from './layout';

/**
 * The write-ahead record that makes multi-sector writes atomic (docs/formats/nvram.md):
 * the record (sector 2) names the data range and the CRC of its new contents; the new contents
 * go to the spare range first, then to the data range. One-way progress is recorded in stamps
 * (sector 3), each a separately checksummed 24-byte slot, so a torn stamp never spoils the record.
 *
 * States: record written -> 'spare-written' stamp -> 'closed' stamp. Recovery decides from the
 * contents, not only the stamps: a spare range whose CRC equals the record's is complete.
 */
const RECORD_MAGIC = Buffer.from('SLVRJRN\0', 'latin1');
const STAMP_MAGIC = 0x504d5453; // "STMP"
export const STAMP_SIZE = 24;
export const Stage = { spareWritten: 1, closed: 2 } as const;
export type StageValue = (typeof Stage)[keyof typeof Stage];

/**
 * The digest of a range's contents the record keeps, chained over each sector without its CRC field.
 * Version 1 records use CRC-32 (IEEE): a sector holding one store entry and its own CRC-32C leaves
 * the same CRC-32C residue whatever the entry says, so a CRC-32C digest (version 0 records, written
 * by earlier releases) cannot tell old contents from new ones of the same length.
 */
export const DIGEST_CRC32C = 0;
export const DIGEST_CRC32 = 1;
export function rangeDigest(sealed: Buffer, sectorSize: number, kind = DIGEST_CRC32): number {
  const step = kind === DIGEST_CRC32 ? crc32 : crc32c;
  let crc = 0;
  for (let at = 0; at < sealed.length; at += sectorSize) crc = step(sealed.subarray(at, at + sectorSize - 4), crc);
  return crc;
}

/** The highest sequence number the record or any stamp carries: the next write uses one more. */
export function lastSequence(recordSector: Buffer, stampSector: Buffer, geo: Geometry): bigint {
  let seq = decodeRecord(recordSector, geo)?.seq ?? 0n;
  for (let at = 0; at + STAMP_SIZE <= stampSector.length; at += STAMP_SIZE) {
    const slot = stampSector.subarray(at, at + STAMP_SIZE);
    if (slot.readUInt32LE(0) === STAMP_MAGIC && slot.readUInt32LE(16) === crc32c(slot.subarray(0, 16))) {
      const s = slot.readBigUInt64LE(8);
      if (s > seq) seq = s;
    }
  }
  return seq;
}

export interface JournalRecord {
  seq: bigint;
  first: number;
  count: number;
  newCrc: number;
  /** How newCrc was computed: DIGEST_CRC32 (written now) or DIGEST_CRC32C (earlier releases). */
  digest: number;
}

export function encodeRecord(r: JournalRecord, sectorSize: number): Buffer {
  const s = Buffer.alloc(sectorSize);
  RECORD_MAGIC.copy(s, 0);
  s.writeBigUInt64LE(r.seq, 8);
  s.writeUInt32LE(r.first, 16);
  s.writeUInt32LE(r.count, 20);
  s.writeUInt32LE(r.newCrc, 24);
  s.writeUInt32LE(r.digest, 28);
  return sealSector(s, JOURNAL_SECTOR);
}

export function decodeRecord(sector: Buffer, geo: Geometry): JournalRecord | undefined {
  if (!sector.subarray(0, 8).equals(RECORD_MAGIC) || !sectorIsValid(sector, JOURNAL_SECTOR)) return undefined;
  const r = {
    seq: sector.readBigUInt64LE(8),
    first: sector.readUInt32LE(16),
    count: sector.readUInt32LE(20),
    newCrc: sector.readUInt32LE(24),
    digest: sector.readUInt32LE(28),
  };
  if (r.count < 1 || r.first + r.count > geo.dataSectors || (r.digest !== DIGEST_CRC32 && r.digest !== DIGEST_CRC32C)) return undefined;
  return r;
}

/** The stamp slot for `stage` of record `seq`: its bytes and its offset inside the stamp sector. */
export function encodeStamp(seq: bigint, stage: StageValue): { offset: number; bytes: Buffer } {
  const b = Buffer.alloc(STAMP_SIZE);
  b.writeUInt32LE(STAMP_MAGIC, 0);
  b.writeUInt32LE(stage, 4);
  b.writeBigUInt64LE(seq, 8);
  b.writeUInt32LE(crc32c(b.subarray(0, 16)), 16);
  return { offset: (stage - 1) * STAMP_SIZE, bytes: b };
}

export function hasStamp(stampSector: Buffer, seq: bigint, stage: StageValue): boolean {
  const expected = encodeStamp(seq, stage);
  return stampSector.subarray(expected.offset, expected.offset + STAMP_SIZE).equals(expected.bytes);
}

/** What an interrupted write needs: nothing, copy spare->data (roll forward), or data->spare (roll back). */
export type JournalAction = ({ kind: 'none'; record?: JournalRecord } | { kind: 'roll-forward' | 'roll-back'; record: JournalRecord }) & {
  /** The highest sequence number seen in the record or the stamps. */
  lastSeq: bigint;
};

export function planJournal(
  recordSector: Buffer,
  stampSector: Buffer,
  spareRange: (r: JournalRecord) => Buffer,
  geo: Geometry,
): JournalAction {
  const record = decodeRecord(recordSector, geo);
  const lastSeq = lastSequence(recordSector, stampSector, geo);
  if (!record) return { kind: 'none', lastSeq };
  if (hasStamp(stampSector, record.seq, Stage.closed)) return { kind: 'none', record, lastSeq };
  const spareComplete =
    hasStamp(stampSector, record.seq, Stage.spareWritten) || rangeDigest(spareRange(record), geo.sectorSize, record.digest) === record.newCrc;
  return { kind: spareComplete ? 'roll-forward' : 'roll-back', record, lastSeq };
}
