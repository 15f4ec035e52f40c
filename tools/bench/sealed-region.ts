/** The input the sector benchmarks share: 64 MiB of random 4 KiB sectors, sealed by the addon. */
import { randomFillSync } from 'node:crypto';
import { addon } from '../../bindings/addon';

export const REGION_BYTES = 64 * 1024 * 1024;
export const SECTOR_BYTES = 4096;

export function sealedRegion(): Buffer {
  const region = randomFillSync(Buffer.alloc(REGION_BYTES));
  addon().sealSectors(region, SECTOR_BYTES, 0);
  return region;
}
