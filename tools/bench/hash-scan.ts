/**
 * A hash-scan round over a 1 GiB region of 4 KiB pages (recompute, compare and store 262144 page
 * fingerprints, one `scanPages` call) against @node-rs/xxhash's xxh64 over the same bytes in one call
 * on one thread. The subject scans on one thread; the extras show the default thread count, four
 * threads, the synchronous call and `hashPages`. `SALVOR_HASH_SCAN_BACKEND=scalar` measures the
 * portable kernel instead of the one this CPU would use.
 */
import { randomFillSync } from 'node:crypto';
import { xxh64 as anchorXxh64 } from '@node-rs/xxhash';
import { defaultScanThreads, hashPages, hashScanBackend, scanPages, scanPagesSync } from '../../bindings/hash-scan';
import type { Benchmark } from './run';

const REGION_BYTES = 1024 * 1024 * 1024;
const PAGE_BYTES = 4096;

export const hashScanBenchmark: Benchmark = {
  name: 'hash-scan',
  title: 'hash-scan round over 1 GiB of 4 KiB pages vs one xxh64 over the same bytes',
  target: { kind: 'speedup', value: 0.8 },
  setup: async () => {
    const region = randomFillSync(Buffer.allocUnsafe(REGION_BYTES));
    const hashes = Buffer.alloc((REGION_BYTES / PAGE_BYTES) * 8);
    const first = await scanPages(region, PAGE_BYTES, hashes);
    if (first.length !== 2 || first[0] !== 0 || first[1] !== REGION_BYTES / PAGE_BYTES) throw new Error('the first scan must report every page');
    const page = 12345;
    if (hashes.readBigUInt64LE(page * 8) !== anchorXxh64(region.subarray(page * PAGE_BYTES, (page + 1) * PAGE_BYTES)))
      throw new Error('salvor and @node-rs/xxhash disagree on a page fingerprint');
    const unchanged = async (runs: Uint32Array | Promise<Uint32Array>) => {
      if ((await runs).length !== 0) throw new Error('a scan of an unchanged region reported pages');
    };
    const out = Buffer.alloc(hashes.length);
    const kernel = hashScanBackend();
    const threads = defaultScanThreads();
    return {
      subject: { label: `salvor scanPages, 1 thread (${kernel})`, bytes: REGION_BYTES, run: () => unchanged(scanPages(region, PAGE_BYTES, hashes, 1)) },
      anchor: { label: '@node-rs/xxhash xxh64, one call, 1 thread', bytes: REGION_BYTES, run: () => anchorXxh64(region) },
      extras: [
        { label: `salvor scanPages, default ${threads} threads`, bytes: REGION_BYTES, run: () => unchanged(scanPages(region, PAGE_BYTES, hashes)) },
        { label: 'salvor scanPages, 4 threads', bytes: REGION_BYTES, run: () => unchanged(scanPages(region, PAGE_BYTES, hashes, 4)) },
        { label: 'salvor scanPagesSync, 1 thread', bytes: REGION_BYTES, run: () => unchanged(scanPagesSync(region, PAGE_BYTES, hashes, 1)) },
        { label: 'salvor hashPages (sync, 1 thread)', bytes: REGION_BYTES, run: () => hashPages(region, PAGE_BYTES, out) },
      ],
    };
  },
};
