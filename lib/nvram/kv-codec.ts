import { SalvorError } from '../../bindings/salvor-error';
import { crc32c } from '../../bindings/crc';
import type { NvramEntry, NvramValue } from './store';

/**
 * The key-value blob spread over the data sectors' payloads (docs/formats/nvram.md):
 * "SKV1", u32 used bytes, then entries sorted by key, each
 * "SKVE" | u8 type | u8 0 | u16 key length | u32 value length | key | value | u32 CRC-32C,
 * and zeros to the end. Each entry carries its own CRC and magic so a reader that meets a damaged
 * entry skips to the next magic and keeps every intact entry.
 */
const BLOB_MAGIC = Buffer.from('SKV1', 'latin1');
const ENTRY_MAGIC = Buffer.from('SKVE', 'latin1');
const BLOB_HEAD = 8;
const ENTRY_HEAD = 12;
const TYPE_CODES = { string: 1, int: 2, bytes: 3 } as const;
export const MAX_KEY_BYTES = 255;

function valueBytes(v: NvramValue): Buffer {
  if (v.type === 'string') return Buffer.from(v.value, 'utf8');
  if (v.type === 'bytes') return v.value;
  const b = Buffer.alloc(8);
  b.writeBigInt64LE(v.value);
  return b;
}

export function validateKey(key: string): void {
  const n = Buffer.byteLength(key, 'utf8');
  if (n === 0 || n > MAX_KEY_BYTES || key.includes('\0'))
    throw new SalvorError('SALVOR_BAD_INPUT', `key '${key.slice(0, 40)}' must be 1 to ${MAX_KEY_BYTES} bytes without NUL`);
}

export function entrySize(e: NvramEntry): number {
  return ENTRY_HEAD + Buffer.byteLength(e.key, 'utf8') + valueBytes(e.value).length + 4;
}

/** Serialises entries (sorted by key) into a blob of exactly `capacity` bytes; too big: SALVOR_BAD_INPUT. */
export function encodeKv(entries: NvramEntry[], capacity: number): Buffer {
  const sorted = [...entries].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const need = BLOB_HEAD + sorted.reduce((n, e) => n + entrySize(e), 0);
  if (need > capacity)
    throw new SalvorError('SALVOR_BAD_INPUT', `the store needs ${need} bytes but the NVRAM holds ${capacity} bytes of data`);
  const blob = Buffer.alloc(capacity);
  BLOB_MAGIC.copy(blob, 0);
  blob.writeUInt32LE(need - BLOB_HEAD, 4);
  let at = BLOB_HEAD;
  for (const e of sorted) {
    validateKey(e.key);
    const key = Buffer.from(e.key, 'utf8');
    const value = valueBytes(e.value);
    const start = at;
    ENTRY_MAGIC.copy(blob, at);
    blob.writeUInt8(TYPE_CODES[e.value.type], at + 4);
    blob.writeUInt16LE(key.length, at + 6);
    blob.writeUInt32LE(value.length, at + 8);
    at += ENTRY_HEAD;
    at += key.copy(blob, at);
    at += value.copy(blob, at);
    blob.writeUInt32LE(crc32c(blob.subarray(start, at)), at);
    at += 4;
  }
  return blob;
}

export interface DecodedKv {
  entries: NvramEntry[];
  /** Damaged stretches skipped while reading (0 for an intact blob). */
  damaged: number;
}

function decodeValue(type: number, bytes: Buffer): NvramValue | undefined {
  if (type === TYPE_CODES.string) return { type: 'string', value: bytes.toString('utf8') };
  if (type === TYPE_CODES.bytes) return { type: 'bytes', value: Buffer.from(bytes) };
  if (type === TYPE_CODES.int && bytes.length === 8) return { type: 'int', value: bytes.readBigInt64LE(0) };
  return undefined;
}

/**
 * Reads every intact entry; damaged stretches are counted and skipped, never guessed. The whole blob
 * is read, not only up to the used-bytes field: a sector restored from defaults can carry the store
 * header of the defaults, and the entries after it are still the device's own. Anything that is not
 * zero and not an intact entry, or intact entries past the used-bytes mark, count as damage.
 */
export function decodeKv(blob: Buffer): DecodedKv {
  let damaged = 0;
  let used = blob.length;
  if (blob.length >= BLOB_HEAD && blob.subarray(0, 4).equals(BLOB_MAGIC)) {
    used = BLOB_HEAD + blob.readUInt32LE(4);
    if (used > blob.length) damaged++;
  } else if (!isZero(blob.subarray(0, BLOB_HEAD))) damaged++;
  const byKey = new Map<string, NvramEntry>();
  let at = BLOB_HEAD;
  let beyondUsed = false;
  while (at + ENTRY_HEAD + 4 <= blob.length) {
    const entry = readEntry(blob, at, blob.length);
    if (entry) {
      if (entry.next > used) beyondUsed = true;
      byKey.set(entry.entry.key, entry.entry);
      at = entry.next;
      continue;
    }
    const next = blob.indexOf(ENTRY_MAGIC, at + 1);
    const skippedTo = next < 0 ? blob.length : next;
    if (!isZero(blob.subarray(at, skippedTo))) damaged++;
    if (next < 0) break;
    at = next;
  }
  if (beyondUsed) damaged++;
  return { entries: [...byKey.values()], damaged };
}

const ZEROS = Buffer.alloc(65536);
function isZero(b: Buffer): boolean {
  for (let at = 0; at < b.length; at += ZEROS.length) {
    const part = b.subarray(at, at + ZEROS.length);
    if (!part.equals(ZEROS.subarray(0, part.length))) return false;
  }
  return true;
}

function readEntry(blob: Buffer, at: number, end: number): { entry: NvramEntry; next: number } | undefined {
  if (!blob.subarray(at, at + 4).equals(ENTRY_MAGIC)) return undefined;
  const type = blob.readUInt8(at + 4);
  const keyLen = blob.readUInt16LE(at + 6);
  const valueLen = blob.readUInt32LE(at + 8);
  const stop = at + ENTRY_HEAD + keyLen + valueLen;
  if (keyLen === 0 || stop + 4 > end) return undefined;
  if (crc32c(blob.subarray(at, stop)) !== blob.readUInt32LE(stop)) return undefined;
  const value = decodeValue(type, blob.subarray(at + ENTRY_HEAD + keyLen, stop));
  if (!value) return undefined;
  return { entry: { key: blob.toString('utf8', at + ENTRY_HEAD, at + ENTRY_HEAD + keyLen), value }, next: stop + 4 };
}
