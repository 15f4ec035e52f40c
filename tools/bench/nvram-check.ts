/**
 * The native part of `salvor nvram check` on a 64 MiB image (verifySectorsAsync over 4 KiB
 * sectors) against copying the same 64 MiB (Buffer.copy, i.e. memcpy): how close the check
 * gets to touching the bytes once.
 */
import { addon } from '../../bindings/addon';
import type { Benchmark } from './run';
import { sealedRegion, REGION_BYTES, SECTOR_BYTES } from './sealed-region';

export const nvramCheckBenchmark: Benchmark = {
  name: 'nvram-check',
  title: 'nvram check of a 64 MiB image vs memcpy of 64 MiB',
  target: { kind: 'time-ratio', value: 1.5 },
  setup: async () => {
    const image = sealedRegion();
    const copy = Buffer.alloc(REGION_BYTES, 1); // touched, so the copy never takes page faults
    const native = addon();
    return {
      subject: { label: 'salvor verifySectorsAsync (4 KiB sectors)', bytes: REGION_BYTES, run: () => native.verifySectorsAsync(image, SECTOR_BYTES, 0) },
      anchor: { label: 'Buffer.copy (memcpy)', bytes: REGION_BYTES, run: () => image.copy(copy) },
    };
  },
};
