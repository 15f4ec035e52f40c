/**
 * Checking a 64 MiB region of 4 KiB sectors in one call (salvor's verifySectorsAsync, plus the
 * synchronous verifySectors as an extra) against @node-rs/crc32's crc32c called once per sector.
 * The anchor compares only the CRC; salvor's call also checks each sector's index.
 */
import { crc32c as anchorCrc32c } from '@node-rs/crc32';
import { addon } from '../../bindings/addon';
import type { Benchmark } from './run';
import { sealedRegion, REGION_BYTES, SECTOR_BYTES } from './sealed-region';

function anchorBadSectors(region: Buffer): number[] {
  const bad: number[] = [];
  for (let off = 0, i = 0; off < region.length; off += SECTOR_BYTES, i++) {
    const crcAt = off + SECTOR_BYTES - 4;
    if (anchorCrc32c(region.subarray(off, crcAt)) !== region.readUInt32LE(crcAt)) bad.push(i);
  }
  return bad;
}

export const verifySectorsBenchmark: Benchmark = {
  name: 'verify-sectors',
  title: 'verify 64 MiB of 4 KiB sectors',
  target: { kind: 'speedup', value: 2.0 },
  setup: async () => {
    const region = sealedRegion();
    const native = addon();
    const found = [await native.verifySectorsAsync(region, SECTOR_BYTES, 0), native.verifySectors(region, SECTOR_BYTES, 0), anchorBadSectors(region)];
    if (found.some((bad) => bad.length !== 0)) throw new Error('a freshly sealed region reported bad sectors');
    return {
      subject: { label: 'salvor verifySectorsAsync (one call)', bytes: REGION_BYTES, run: () => native.verifySectorsAsync(region, SECTOR_BYTES, 0) },
      anchor: { label: '@node-rs/crc32 crc32c per sector', bytes: REGION_BYTES, run: () => anchorBadSectors(region) },
      extras: [{ label: 'salvor verifySectors (sync)', bytes: REGION_BYTES, run: () => native.verifySectors(region, SECTOR_BYTES, 0) }],
    };
  },
};
