import { SalvorError } from '../../bindings/salvor-error';
import type { NvramDevice } from './device';
import {
  decodeHeader,
  findHeaderCopy,
  HEADER_MAGIC,
  LAYOUT_VERSION,
  MAX_SECTOR,
  MIN_SECTOR,
  sectorIsValid,
  type Geometry,
  type Header,
} from './layout';
import { readDeviceRecord, type DeviceRecord } from './registry';
import { rebuildGeometry, type RebuiltGeometry } from './header-rebuild';

export interface HeaderFindings {
  primary: 'ok' | 'bad';
  copy: 'ok' | 'bad';
  /** The header in force: from a valid copy, or rebuilt from recorded geometry when both are lost. */
  header: Header | undefined;
  geometry: Geometry;
  record: DeviceRecord | undefined;
  /** Both headers lost: the geometry settled from what survives, and how much of the store did. */
  rebuilt?: RebuiltGeometry;
}

export interface GeometryHints {
  stateDir: string;
  sectorSize?: number;
}

function hasMagic(b: Buffer): boolean {
  return b.length >= 8 && b.subarray(0, 8).equals(HEADER_MAGIC);
}

/** A header from a newer salvor (valid CRC, other version) must be refused, not "repaired". */
function refuseUnknownVersion(head: Buffer, offset: number, path: string): void {
  const b = head.subarray(offset);
  if (!hasMagic(b) || b.length < 16) return;
  const version = b.readUInt16LE(8);
  const sectorSize = b.readUInt32LE(12);
  if (version === LAYOUT_VERSION || sectorSize < MIN_SECTOR || sectorSize > b.length || (sectorSize & (sectorSize - 1)) !== 0) return;
  if (sectorIsValid(b.subarray(0, sectorSize), offset === 0 ? 0 : 1))
    throw new SalvorError('SALVOR_BAD_INPUT', `${path} holds salvor NVRAM layout version ${version}; this salvor reads version ${LAYOUT_VERSION}`, {
      path,
    });
}

/** Reads both headers and settles the geometry, or says exactly why the device cannot be used. */
export async function readHeaders(device: NvramDevice, hints: GeometryHints): Promise<HeaderFindings> {
  const path = device.path;
  if (device.size < 4096) throw new SalvorError('SALVOR_BAD_INPUT', `${path} is truncated: ${device.size} bytes, below the 4096-byte minimum`, { path });
  const head = await device.read(0, Math.min(device.size, 2 * MAX_SECTOR));
  refuseUnknownVersion(head, 0, path);
  const primary = decodeHeader(head, 0);
  const copy = findHeaderCopy(head, (offset) => refuseUnknownVersion(head, offset, path));
  const record = await readDeviceRecord(hints.stateDir, path);
  const states = headerStates(primary.ok ? primary.header : undefined, copy);
  const header = states.primary === 'ok' ? (primary.ok ? primary.header : undefined) : copy;
  const findings = { primary: states.primary, copy: states.copy };

  let geometry: Geometry;
  let rebuilt: RebuiltGeometry | undefined;
  if (header) geometry = header;
  else {
    const ours = hasMagic(head) || (head.length > MIN_SECTOR && head.includes(HEADER_MAGIC));
    if (!ours && !record && hints.sectorSize === undefined)
      throw new SalvorError('SALVOR_BAD_INPUT', `${path} is not a salvor NVRAM (wrong magic); run salvor nvram format first`, { path });
    rebuilt = await rebuildGeometry(device, head, hints, record);
    // With nothing of the store left, only recorded or given geometry (and its defaults) can rebuild it.
    if (!rebuilt || (rebuilt.survivors === 0 && rebuilt.from !== 'state' && rebuilt.from !== 'options')) {
      if (!ours) throw new SalvorError('SALVOR_BAD_INPUT', `${path} is not a salvor NVRAM (wrong magic); run salvor nvram format first`, { path });
      throw new SalvorError(
        'SALVOR_CORRUPT',
        `${path}: header and header copy are both damaged, no sector of the store survives and no geometry is recorded in the state directory; pass --sector-size and --defaults`,
        { path },
      );
    }
    geometry = rebuilt.geometry;
  }
  if (hints.sectorSize !== undefined && hints.sectorSize !== geometry.sectorSize)
    throw new SalvorError('SALVOR_BAD_INPUT', `${path} has ${geometry.sectorSize}-byte sectors, not ${hints.sectorSize} as given`, { path });
  if (device.size < geometry.size)
    throw new SalvorError('SALVOR_BAD_INPUT', `${path} is truncated: the layout needs ${geometry.size} bytes, the device holds ${device.size}`, {
      path,
    });
  return { ...findings, header, geometry, record, rebuilt };
}

/** Both valid but different (a cut while recover rewrote one): the higher generation wins, the other is stale. */
function headerStates(p: Header | undefined, c: Header | undefined): { primary: 'ok' | 'bad'; copy: 'ok' | 'bad' } {
  if (p && c) {
    const same = p.generation === c.generation && p.size === c.size && p.sectorSize === c.sectorSize;
    if (same) return { primary: 'ok', copy: 'ok' };
    return c.generation > p.generation ? { primary: 'bad', copy: 'ok' } : { primary: 'ok', copy: 'bad' };
  }
  return { primary: p ? 'ok' : 'bad', copy: c ? 'ok' : 'bad' };
}
