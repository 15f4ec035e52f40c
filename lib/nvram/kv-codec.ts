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
  /** Names of damaged entries, read from any copy of the bytes where the name survives. */
  damagedKeys: string[];
  /** Damaged stretches in which no name survives. */
  unnamedDamage: number;
  /** Where each intact entry sits in the blob: [start, end). */
  spans: Map<string, [number, number]>;
}

export interface DecodeOptions {
  /** Byte ranges [start, end) of the blob whose contents are lost (zeros stand in for them). */
  lost?: [number, number][];
  /** The damaged bytes as the data and spare sectors still hold them: where names may survive. */
  raw?: Buffer[];
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
 * zero and not an intact entry, intact entries past the used-bytes mark, a repeated key, and any
 * lost range before the used-bytes mark count as damage.
 */
export function decodeKv(blob: Buffer, opts: DecodeOptions = {}): DecodedKv {
  const lost = opts.lost ?? [];
  const overlapsLost = (from: number, to: number) => lost.some(([a, b]) => a < to && from < b);
  let damaged = 0;
  let used = blob.length;
  const headerLost = overlapsLost(0, BLOB_HEAD);
  if (!headerLost && blob.length >= BLOB_HEAD && blob.subarray(0, 4).equals(BLOB_MAGIC)) {
    used = BLOB_HEAD + blob.readUInt32LE(4);
    if (used > blob.length) damaged++;
  } else if (!headerLost && !isZero(blob.subarray(0, BLOB_HEAD))) damaged++;
  const byKey = new Map<string, NvramEntry>();
  const spans = new Map<string, [number, number]>();
  const names = new Set<string>();
  let unnamed = 0;
  const damage = (from: number, to: number) => {
    damaged++;
    const found = namesIn(opts.raw?.length ? opts.raw : [blob], from, to);
    found.names.forEach((n) => names.add(n));
    if (found.unnamed || !found.names.length) unnamed++;
  };
  let at = BLOB_HEAD;
  let beyondUsed = false;
  while (at + ENTRY_HEAD + 4 <= blob.length) {
    const entry = overlapsLost(at, at + ENTRY_HEAD) ? undefined : readEntry(blob, at, blob.length);
    if (entry && !overlapsLost(at, entry.next)) {
      if (entry.next > used) beyondUsed = true;
      if (byKey.has(entry.entry.key)) damage(at, entry.next);
      byKey.set(entry.entry.key, entry.entry);
      spans.set(entry.entry.key, [at, entry.next]);
      at = entry.next;
      continue;
    }
    const next = blob.indexOf(ENTRY_MAGIC, at + 1);
    const skippedTo = next < 0 ? blob.length : next;
    if (!isZero(blob.subarray(at, skippedTo)) || (at < used && overlapsLost(at, Math.min(skippedTo, used)))) damage(at, skippedTo);
    if (next < 0) break;
    at = next;
  }
  if (beyondUsed) damaged++;
  if (headerLost && damaged === 0) damage(0, BLOB_HEAD);
  for (const k of byKey.keys()) names.delete(k);
  return { entries: [...byKey.values()], damaged, damagedKeys: [...names].sort(), unnamedDamage: unnamed, spans };
}

/**
 * Key names of the entries in the damaged stretch [from, to) of each copy: the walk follows entry
 * lengths from header to header (a header whose magic was hit is still read when its lengths and
 * name are plausible), and jumps to the next magic where no header makes sense. `unnamed` when, in
 * every copy, some non-zero bytes belong to no header that could be read.
 */
function namesIn(copies: Buffer[], from: number, to: number): { names: string[]; unnamed: boolean } {
  const found = new Set<string>();
  let unnamedEverywhere = true;
  for (const copy of copies) {
    let unaccounted = false;
    let at = from;
    while (at < to && at + ENTRY_HEAD <= copy.length) {
      const name = entryName(copy, at);
      const end = name === undefined ? -1 : at + ENTRY_HEAD + copy.readUInt16LE(at + 6) + copy.readUInt32LE(at + 8) + 4;
      if (name !== undefined && end <= copy.length) {
        found.add(name);
        at = end;
        continue;
      }
      const next = copy.indexOf(ENTRY_MAGIC, at + 1);
      const stop = next < 0 || next > to ? to : next;
      if (!isZero(copy.subarray(at, stop))) unaccounted = true;
      at = stop;
    }
    if (!unaccounted) unnamedEverywhere = false;
  }
  return { names: [...found], unnamed: unnamedEverywhere };
}

/**
 * The key an entry header names, when its type, lengths and name bytes are valid UTF-8 without NUL;
 * `guess` (a name read from damaged bytes) also asks for printable characters.
 */
function entryName(blob: Buffer, at: number, guess = true): string | undefined {
  if (at + ENTRY_HEAD > blob.length) return undefined;
  const type = blob.readUInt8(at + 4);
  const keyLen = blob.readUInt16LE(at + 6);
  if (!Object.values(TYPE_CODES).includes(type as 1) || blob.readUInt8(at + 5) !== 0 || keyLen === 0 || keyLen > MAX_KEY_BYTES || at + ENTRY_HEAD + keyLen > blob.length)
    return undefined;
  const bytes = blob.subarray(at + ENTRY_HEAD, at + ENTRY_HEAD + keyLen);
  const name = bytes.toString('utf8');
  if (!Buffer.from(name, 'utf8').equals(bytes) || name.includes('\0')) return undefined;
  if (guess && /[\u0000-\u001f\u007f\ufffd]/.test(name)) return undefined;
  return name;
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
  // Lengths are checked against their bounds before the CRC is: a CRC recomputed over a wrong
  // length must not make an entry out of whatever follows.
  if (keyLen === 0 || keyLen > MAX_KEY_BYTES || blob.readUInt8(at + 5) !== 0 || stop + 4 > end) return undefined;
  if (crc32c(blob.subarray(at, stop)) !== blob.readUInt32LE(stop)) return undefined;
  const value = decodeValue(type, blob.subarray(at + ENTRY_HEAD + keyLen, stop));
  if (!value) return undefined;
  const key = entryName(blob, at, false);
  if (key === undefined) return undefined;
  return { entry: { key, value }, next: stop + 4 };
}
