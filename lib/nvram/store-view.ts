import { decodeKv, type DecodedKv } from './kv-codec';
import type { NvramImage } from './image';

/**
 * The key-value store as a reader sees it, assembled from the data and spare sectors: each sector's
 * payload from its data copy, else its spare. A sector with neither copy intact is lost: its bytes
 * count as damage (never as an empty stretch), and the names of the entries it held are read from
 * whatever the damaged copies still say.
 */
export interface StoreView extends DecodedKv {
  /** Logical data sectors with no intact copy. */
  lostSectors: number[];
}

type Copy = 'data' | 'spare';

function assemble(image: NvramImage, pick: (i: number) => Copy | undefined): { blob: Buffer; lost: [number, number][] } {
  const p = image.payloadSize;
  const blob = Buffer.alloc(image.geo.dataSectors * p);
  const lost: [number, number][] = [];
  for (let i = 0; i < image.geo.dataSectors; i++) {
    const from = pick(i);
    if (from) (from === 'data' ? image.data(i) : image.spare(i)).copy(blob, i * p, 0, p);
    else lost.push([i * p, (i + 1) * p]);
  }
  return { blob, lost };
}

/** Every sector's payload taken from one side, damaged or not: where names of lost entries may survive. */
function rawCopy(image: NvramImage, side: Copy): Buffer {
  return assemble(image, () => side).blob;
}

export function readStore(image: NvramImage, badData: Set<number>, badSpare: Set<number>): StoreView {
  const { blob, lost } = assemble(image, (i) => (!badData.has(i) ? 'data' : !badSpare.has(i) ? 'spare' : undefined));
  const raw = lost.length ? [rawCopy(image, 'data'), rawCopy(image, 'spare')] : [];
  const kv = decodeKv(blob, { lost, raw });
  return { ...kv, lostSectors: lost.map(([a]) => a / image.payloadSize) };
}

/**
 * Sectors whose data and spare copies both pass their CRC yet differ. After every completed write
 * the two are equal, so one of them is wrong (a CRC recomputed over damaged contents, a stray
 * write): the copy that decodes with less damage wins, the data copy on a tie. Returns the losers.
 */
export function judgeMismatches(image: NvramImage, badData: Set<number>, badSpare: Set<number>): { data: number[]; spare: number[] } {
  const mismatched: number[] = [];
  const d = image.geo.dataSectors;
  if (image.data(0, d).equals(image.spare(0, d))) return { data: [], spare: [] }; // one compare for the usual case
  for (let i = 0; i < d; i++)
    if (!badData.has(i) && !badSpare.has(i) && !image.data(i).equals(image.spare(i))) mismatched.push(i);
  if (!mismatched.length) return { data: [], spare: [] };
  const score = (useSpare: Set<number>) => {
    const { blob, lost } = assemble(image, (i) => (useSpare.has(i) ? 'spare' : !badData.has(i) ? 'data' : !badSpare.has(i) ? 'spare' : undefined));
    const kv = decodeKv(blob, { lost });
    return kv.damaged * 1e6 - kv.entries.length;
  };
  const base = score(new Set());
  // One sector at a time when few differ (each judged on its own); all at once otherwise.
  const groups = mismatched.length <= 64 ? mismatched.map((i) => [i]) : [mismatched];
  const out = { data: [] as number[], spare: [] as number[] };
  for (const group of groups) {
    if (score(new Set(group)) < base) out.data.push(...group);
    else out.spare.push(...group);
  }
  return out;
}
