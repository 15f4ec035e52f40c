import { SalvorError } from '../../bindings/salvor-error';
import { crc32c } from '../../bindings/crc';

/**
 * The salvor NVRAM layout, version 1 (docs/formats/nvram.md has the byte offsets):
 * sector 0 header, sector 1 header copy, sector 2 journal record, sector 3 journal stamps,
 * then D data sectors, then D spare sectors. Every sector but the stamps ends in an 8-byte
 * trailer: its index (u32 LE) and a CRC-32C (u32 LE) over all bytes before the CRC.
 */
export const LAYOUT_VERSION = 1;
export const HEADER_MAGIC = Buffer.from('SLVRNVM\0', 'latin1');
export const TRAILER = 8;
export const MIN_SIZE = 4096;
export const MAX_SIZE = 256 * 1024 * 1024;
export const MIN_SECTOR = 256;
export const MAX_SECTOR = 65536;
export const FIXED_SECTORS = 4; // header, header copy, journal record, journal stamps
export const HEADER_SECTOR = 0;
export const HEADER_COPY_SECTOR = 1;
export const JOURNAL_SECTOR = 2;
export const STAMP_SECTOR = 3;

export interface Geometry {
  size: number;
  sectorSize: number;
  sectorCount: number;
  dataSectors: number;
  dataStart: number;
  spareStart: number;
}

export interface Header extends Geometry {
  version: number;
  generation: bigint;
  defaultsCrc: number;
}

/** Default sector size: small parts (EEPROMs) get small sectors, so they keep room for data. */
export function defaultSectorSize(size: number): number {
  return size < 64 * 1024 ? 256 : 4096;
}

/** Validates size and sector size and derives where each region starts. Bad values: SALVOR_BAD_INPUT. */
export function computeGeometry(size: number, sectorSize: number): Geometry {
  const bad = (msg: string) => new SalvorError('SALVOR_BAD_INPUT', msg);
  if (!Number.isSafeInteger(size) || size < MIN_SIZE || size > MAX_SIZE)
    throw bad(`size ${size} is outside ${MIN_SIZE} B to ${MAX_SIZE / 1048576} MiB`);
  if (!Number.isInteger(sectorSize) || sectorSize < MIN_SECTOR || sectorSize > MAX_SECTOR || (sectorSize & (sectorSize - 1)) !== 0)
    throw bad(`sector size ${sectorSize} is not a power of two from ${MIN_SECTOR} to ${MAX_SECTOR}`);
  if (size % sectorSize !== 0) throw bad(`size ${size} is not a multiple of the sector size ${sectorSize}`);
  const sectorCount = size / sectorSize;
  const dataSectors = Math.floor((sectorCount - FIXED_SECTORS) / 2);
  if (dataSectors < 1)
    throw bad(`size ${size} holds only ${sectorCount} sectors of ${sectorSize} B; the layout needs at least ${FIXED_SECTORS + 2}`);
  return { size, sectorSize, sectorCount, dataSectors, dataStart: FIXED_SECTORS, spareStart: FIXED_SECTORS + dataSectors };
}

/** Writes index and CRC-32C into a sector's trailer. */
export function sealSector(sector: Buffer, index: number): Buffer {
  sector.writeUInt32LE(index, sector.length - TRAILER);
  sector.writeUInt32LE(crc32c(sector.subarray(0, sector.length - 4)), sector.length - 4);
  return sector;
}

export function sectorIsValid(sector: Buffer, index: number): boolean {
  return (
    sector.readUInt32LE(sector.length - TRAILER) === index &&
    sector.readUInt32LE(sector.length - 4) === crc32c(sector.subarray(0, sector.length - 4))
  );
}

export function encodeHeader(h: Header, index: number): Buffer {
  const s = Buffer.alloc(h.sectorSize);
  HEADER_MAGIC.copy(s, 0);
  s.writeUInt16LE(h.version, 8);
  s.writeUInt16LE(64, 10);
  s.writeUInt32LE(h.sectorSize, 12);
  s.writeBigUInt64LE(BigInt(h.size), 16);
  s.writeUInt32LE(h.sectorCount, 24);
  s.writeUInt32LE(h.dataSectors, 28);
  s.writeUInt32LE(h.dataStart, 32);
  s.writeUInt32LE(h.spareStart, 36);
  s.writeBigUInt64LE(h.generation, 40);
  s.writeUInt32LE(JOURNAL_SECTOR, 48);
  s.writeUInt32LE(0, 52);
  s.writeUInt32LE(h.defaultsCrc, 56);
  return sealSector(s, index);
}

export type HeaderRead = { ok: true; header: Header } | { ok: false; reason: string };

/**
 * Decodes a header sector. `bytes` starts at the header; its sector size is read from the header
 * and then the trailer is checked, so any supported sector size is found.
 */
export function decodeHeader(bytes: Buffer, index: number): HeaderRead {
  if (bytes.length < 64 || !bytes.subarray(0, 8).equals(HEADER_MAGIC)) return { ok: false, reason: 'wrong magic' };
  const version = bytes.readUInt16LE(8);
  if (version !== LAYOUT_VERSION) return { ok: false, reason: `unknown layout version ${version}` };
  const sectorSize = bytes.readUInt32LE(12);
  if (sectorSize < MIN_SECTOR || sectorSize > MAX_SECTOR || (sectorSize & (sectorSize - 1)) !== 0 || sectorSize > bytes.length)
    return { ok: false, reason: `implausible sector size ${sectorSize}` };
  if (!sectorIsValid(bytes.subarray(0, sectorSize), index)) return { ok: false, reason: 'CRC mismatch' };
  const size = Number(bytes.readBigUInt64LE(16));
  let geometry: Geometry;
  try {
    geometry = computeGeometry(size, sectorSize);
  } catch (e) {
    return { ok: false, reason: (e as Error).message };
  }
  // A CRC can be recomputed over wrong fields: every field must also agree with the geometry.
  const disagree = headerFieldsDisagree(bytes, geometry);
  if (disagree) return { ok: false, reason: `${disagree} disagrees with the geometry` };
  return {
    ok: true,
    header: { ...geometry, version, generation: bytes.readBigUInt64LE(40), defaultsCrc: bytes.readUInt32LE(56) },
  };
}

/** The first header field that does not match the geometry derived from size and sector size, if any. */
function headerFieldsDisagree(bytes: Buffer, g: Geometry): string | undefined {
  const expected: [string, number, number][] = [
    ['header length', bytes.readUInt16LE(10), 64],
    ['sector count', bytes.readUInt32LE(24), g.sectorCount],
    ['data sector count', bytes.readUInt32LE(28), g.dataSectors],
    ['data start', bytes.readUInt32LE(32), g.dataStart],
    ['spare start', bytes.readUInt32LE(36), g.spareStart],
    ['journal sector', bytes.readUInt32LE(48), JOURNAL_SECTOR],
    ['reserved field', bytes.readUInt32LE(52), 0],
  ];
  const wrong = expected.find(([, got, want]) => got !== want);
  return wrong ? `${wrong[0]} ${wrong[1]}` : undefined;
}

/**
 * The geometry a damaged header (CRC failed) still states, when its magic, version and fields are
 * consistent with each other: one of the sources a rebuild of both headers weighs.
 */
export function geometryFromDamagedHeader(bytes: Buffer): { geometry: Geometry; generation: bigint } | undefined {
  if (bytes.length < 64 || !bytes.subarray(0, 8).equals(HEADER_MAGIC) || bytes.readUInt16LE(8) !== LAYOUT_VERSION) return undefined;
  try {
    const geometry = computeGeometry(Number(bytes.readBigUInt64LE(16)), bytes.readUInt32LE(12));
    if (headerFieldsDisagree(bytes, geometry)) return undefined;
    return { geometry, generation: bytes.readBigUInt64LE(40) };
  } catch {
    return undefined;
  }
}

/** True when the layout's version field is one this build does not know (so the error can say so). */
export function unknownVersion(bytes: Buffer): number | undefined {
  if (bytes.length < 10 || !bytes.subarray(0, 8).equals(HEADER_MAGIC)) return undefined;
  const v = bytes.readUInt16LE(8);
  return v === LAYOUT_VERSION ? undefined : v;
}

/** The header copy sits at offset B (sector 1); B is unknown until a copy at some size decodes. */
export function findHeaderCopy(head: Buffer, onCandidate?: (offset: number) => void): Header | undefined {
  for (let s = MIN_SECTOR; s <= MAX_SECTOR && 2 * s <= head.length; s *= 2) {
    onCandidate?.(s);
    const copy = decodeHeader(head.subarray(s), 1);
    if (copy.ok && copy.header.sectorSize === s) return copy.header;
  }
  return undefined;
}
