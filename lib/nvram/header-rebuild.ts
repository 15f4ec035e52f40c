import { addon, callNativeAsync } from '../../bindings/addon';
import type { NvramDevice } from './device';
import { computeGeometry, FIXED_SECTORS, geometryFromDamagedHeader, MAX_SECTOR, MAX_SIZE, MIN_SECTOR, type Geometry } from './layout';
import type { DeviceRecord } from './registry';

/** Where the geometry of a store whose header and header copy are both lost was found. */
export type GeometrySource = 'options' | 'state' | 'header-fields' | 'scan';

export interface RebuiltGeometry {
  geometry: Geometry;
  from: GeometrySource;
  /** The generation the damaged headers still state, else 1. */
  generation: bigint;
  /** Data and spare sectors that pass their CRC under this geometry: what a rebuild keeps. */
  survivors: number;
}

interface Candidate {
  geometry: Geometry;
  from: GeometrySource;
  generation?: bigint;
}

function tryGeometry(size: number, sectorSize: number): Geometry | undefined {
  try {
    return computeGeometry(size, sectorSize);
  } catch {
    return undefined;
  }
}

/** The largest layout of this sector size the device holds. */
function wholeDevice(deviceSize: number, sectorSize: number): Geometry | undefined {
  const size = Math.floor(Math.min(deviceSize, MAX_SIZE) / sectorSize) * sectorSize;
  return tryGeometry(size, sectorSize);
}

/** Data and spare sectors that pass their CRC and index check under `geo`. */
async function survivors(device: NvramDevice, geo: Geometry): Promise<number> {
  if (geo.size > device.size) return 0;
  const bytes = await device.read(geo.dataStart * geo.sectorSize, 2 * geo.dataSectors * geo.sectorSize);
  const half = geo.dataSectors * geo.sectorSize;
  const verify = (region: Buffer) => callNativeAsync(() => addon().verifySectorsAsync(region, geo.sectorSize, 0), device.path);
  const [badData, badSpare] = await Promise.all([verify(bytes.subarray(0, half)), verify(bytes.subarray(half))]);
  return 2 * geo.dataSectors - badData.length - badSpare.length;
}

/**
 * A scan for the layout when nothing else states it: for each sector size, the data sectors carry
 * their logical index (data sector i sits at FIXED_SECTORS + i); the store either fills the device
 * or ends right after its last intact data sector's spare.
 */
async function scanCandidates(device: NvramDevice): Promise<Candidate[]> {
  const out: Candidate[] = [];
  for (let s = MIN_SECTOR; s <= MAX_SECTOR; s *= 2) {
    const whole = wholeDevice(device.size, s);
    if (!whole) continue;
    const region = await device.read(FIXED_SECTORS * s, whole.dataSectors * s);
    const bad = new Set(await callNativeAsync(() => addon().verifySectorsAsync(region, s, 0), device.path));
    let lastGood = -1;
    for (let i = 0; i < whole.dataSectors; i++) if (!bad.has(i)) lastGood = i;
    if (lastGood < 0) continue;
    out.push({ geometry: whole, from: 'scan' });
    const fitted = tryGeometry((FIXED_SECTORS + 2 * (lastGood + 1)) * s, s);
    if (fitted && fitted.dataSectors !== whole.dataSectors) out.push({ geometry: fitted, from: 'scan' });
  }
  return out;
}

/**
 * Settles the geometry of a store whose header and copy both fail their checks, from every source
 * that survives: --sector-size, the state file, the fields the damaged headers still state, a scan
 * of the sectors. The candidate under which the most sectors pass their CRC wins (earlier sources on
 * a tie). Undefined when no source states a geometry; survivors 0 when nothing of the store is left.
 */
export async function rebuildGeometry(
  device: NvramDevice,
  head: Buffer,
  hints: { sectorSize?: number },
  record: DeviceRecord | undefined,
): Promise<RebuiltGeometry | undefined> {
  const candidates: Candidate[] = [];
  const damaged = [geometryFromDamagedHeader(head)];
  for (let s = MIN_SECTOR; s <= MAX_SECTOR && 2 * s <= head.length; s *= 2) {
    const copy = geometryFromDamagedHeader(head.subarray(s));
    if (copy && copy.geometry.sectorSize === s) damaged.push(copy);
  }
  const generation = damaged.find((d) => d)?.generation;
  if (hints.sectorSize !== undefined) {
    const geo = record && record.sectorSize === hints.sectorSize ? tryGeometry(record.size, record.sectorSize) : wholeDevice(device.size, hints.sectorSize);
    if (geo) candidates.push({ geometry: geo, from: 'options' });
  }
  const recorded = record && tryGeometry(record.size, record.sectorSize);
  if (recorded) candidates.push({ geometry: recorded, from: 'state' });
  for (const d of damaged) if (d) candidates.push({ geometry: d.geometry, from: 'header-fields', generation: d.generation });

  const scored: RebuiltGeometry[] = [];
  for (const c of candidates)
    scored.push({ geometry: c.geometry, from: c.from, generation: c.generation ?? generation ?? 1n, survivors: await survivors(device, c.geometry) });
  if (!scored.some((c) => c.survivors > 0) && (hints.sectorSize === undefined || !candidates.length))
    for (const c of await scanCandidates(device)) scored.push({ geometry: c.geometry, from: c.from, generation: generation ?? 1n, survivors: await survivors(device, c.geometry) });
  if (hints.sectorSize !== undefined) {
    const agreeing = scored.filter((c) => c.geometry.sectorSize === hints.sectorSize);
    if (agreeing.length) return best(agreeing);
  }
  return best(scored);
}

function best(scored: RebuiltGeometry[]): RebuiltGeometry | undefined {
  let top: RebuiltGeometry | undefined;
  for (const c of scored) if (!top || c.survivors > top.survivors) top = c;
  return top;
}
