/**
 * Page deltas over a 64 MiB region of 4 KiB pages in which 5 % of the bytes of every page changed,
 * in scattered runs of 1 to 16 bytes. Encoding is measured against memcmp of as many bytes
 * (Buffer.compare of the old region with an identical copy: with the new region memcmp would stop
 * at the first difference), applying against memcpy of the region (Buffer.copy).
 */
import { randomFillSync } from 'node:crypto';
import { applyPageDeltas, applyPageDeltasAsync, encodePageDeltas, encodePageDeltasAsync, pageDeltaBackend } from '../../bindings/page-delta';
import type { Benchmark } from './run';

const REGION_BYTES = 64 * 1024 * 1024;
const PAGE_BYTES = 4096;
const CHANGED_PER_PAGE = Math.round(PAGE_BYTES * 0.05);
const LONGEST_RUN = 16;

/** xorshift32: the same changes on every run, so figures from different runs describe the same input. */
function prng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>>= 0);
  };
}

interface Regions {
  oldPages: Buffer;
  newPages: Buffer;
}

let shared: Regions | undefined;

/** The old region (random bytes) and the new one: exactly CHANGED_PER_PAGE bytes differ in each page. */
function regions(): Regions {
  if (shared) return shared;
  const oldPages = randomFillSync(Buffer.alloc(REGION_BYTES));
  const newPages = Buffer.from(oldPages);
  const next = prng(0x5a17e);
  for (let page = 0; page < REGION_BYTES; page += PAGE_BYTES) {
    let changed = 0;
    while (changed < CHANGED_PER_PAGE) {
      const length = 1 + (next() % LONGEST_RUN);
      const at = page + (next() % (PAGE_BYTES - length));
      for (let k = at; k < at + length && changed < CHANGED_PER_PAGE; k++) {
        if (newPages[k] !== oldPages[k]) continue;
        newPages[k] = oldPages[k] ^ (1 + (next() % 255));
        changed++;
      }
    }
  }
  shared = { oldPages, newPages };
  return shared;
}

export const pageDeltaEncodeBenchmark: Benchmark = {
  name: 'page-delta-encode',
  title: 'encode 64 MiB of 4 KiB pages, 5 % of bytes changed, vs memcmp of 64 MiB',
  target: { kind: 'speedup', value: 0.5 },
  setup: async () => {
    const { oldPages, newPages } = regions();
    const twin = Buffer.from(oldPages);
    const all = Uint32Array.from({ length: REGION_BYTES / PAGE_BYTES }, (_, i) => i);
    const deltas = encodePageDeltas(oldPages, newPages, PAGE_BYTES);
    const check = Buffer.from(oldPages);
    if (applyPageDeltas(check, deltas, PAGE_BYTES) !== all.length || !check.equals(newPages))
      throw new Error('applying the encoded deltas did not give the new region');
    process.stdout.write(`  deltas: ${deltas.length} bytes, ${((100 * deltas.length) / REGION_BYTES).toFixed(2)} % of the region (compare path ${pageDeltaBackend()})\n`);
    return {
      subject: { label: 'salvor encodePageDeltas (sync)', bytes: REGION_BYTES, run: () => encodePageDeltas(oldPages, newPages, PAGE_BYTES) },
      anchor: { label: 'Buffer.compare (memcmp), identical copy', bytes: REGION_BYTES, run: () => Buffer.compare(oldPages, twin) },
      extras: [
        { label: 'salvor encodePageDeltasAsync', bytes: REGION_BYTES, run: () => encodePageDeltasAsync(oldPages, newPages, PAGE_BYTES) },
        { label: 'salvor encodePageDeltas, every page listed', bytes: REGION_BYTES, run: () => encodePageDeltas(oldPages, newPages, PAGE_BYTES, all) },
      ],
    };
  },
};

export const pageDeltaApplyBenchmark: Benchmark = {
  name: 'page-delta-apply',
  title: 'apply deltas to 64 MiB of 4 KiB pages in place, 5 % of bytes changed, vs memcpy of 64 MiB',
  target: { kind: 'speedup', value: 0.5 },
  setup: async () => {
    const { oldPages, newPages } = regions();
    const deltas = encodePageDeltas(oldPages, newPages, PAGE_BYTES);
    // Every run after the first writes the same bytes again: the work per run is the same.
    const pages = Buffer.from(oldPages);
    const asyncPages = Buffer.from(oldPages);
    const copy = Buffer.alloc(REGION_BYTES, 1); // touched, so the copy never takes page faults
    applyPageDeltas(pages, deltas, PAGE_BYTES);
    if (!pages.equals(newPages)) throw new Error('applying the encoded deltas did not give the new region');
    return {
      subject: { label: 'salvor applyPageDeltas (sync, in place)', bytes: REGION_BYTES, run: () => applyPageDeltas(pages, deltas, PAGE_BYTES) },
      anchor: { label: 'Buffer.copy (memcpy)', bytes: REGION_BYTES, run: () => newPages.copy(copy) },
      extras: [{ label: 'salvor applyPageDeltasAsync (in place)', bytes: REGION_BYTES, run: () => applyPageDeltasAsync(asyncPages, deltas, PAGE_BYTES) }],
    };
  },
};
