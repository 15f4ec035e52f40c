import t from 'tap';
import { spawnSync } from 'node:child_process';
import { randomBytes, randomFillSync } from 'node:crypto';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { xxh64 as anchorXxh64 } from '@node-rs/xxhash';
import { addon, callNative, callNativeAsync } from '../../bindings/addon';
import { defaultScanThreads, hashPages, hashScanBackend, scanPages, scanPagesSync, xxh64 } from '../../bindings/hash-scan';

const PAGE_SIZES = [512, 1024, 2048, 4096, 8192, 16384, 32768, 65536];

/** Deterministic pseudo-random numbers, so a failing round can be replayed from its seed. */
function prng(seed: number): (n: number) => number {
  let s = seed >>> 0 || 1;
  return (n: number) => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s % n;
  };
}

/** The runs a correct scan reports: pages where `now` differs from `before`, coalesced. */
function expectedRuns(before: Buffer, now: Buffer, pageSize: number): number[] {
  const runs: number[] = [];
  for (let p = 0; p < now.length / pageSize; p++) {
    const a = before.subarray(p * pageSize, (p + 1) * pageSize);
    if (a.equals(now.subarray(p * pageSize, (p + 1) * pageSize))) continue;
    const n = runs.length;
    if (n && runs[n - 2] + runs[n - 1] === p) runs[n - 1]++;
    else runs.push(p, 1);
  }
  return runs;
}

function fingerprintsOf(region: Buffer, pageSize: number): Buffer {
  const out = Buffer.alloc((region.length / pageSize) * 8);
  hashPages(region, pageSize, out);
  return out;
}

t.test('xxh64 known answers (published vectors) and the anchor agree', async (t) => {
  t.equal(xxh64(Buffer.alloc(0)), 0xef46db3751d8e999n);
  t.equal(xxh64(Buffer.from('a')), 0xd24ec4f1a98c6e5bn);
  t.equal(xxh64(Buffer.from('abc')), 0x44bc2cf5ad770999n);
  t.equal(xxh64(Buffer.from('The quick brown fox jumps over the lazy dog')), 0x0b242d361fda71bcn);
  // Every tail length (0..31 after the stripes), unaligned starts, and seeds.
  const buf = randomBytes(400);
  for (let len = 0; len <= 300; len++) {
    const b = buf.subarray(len % 7, (len % 7) + len);
    if (xxh64(b) !== anchorXxh64(b)) t.fail(`length ${len} differs from the anchor`);
    if (xxh64(b, 0xfedcba9876543210n) !== anchorXxh64(b, 0xfedcba9876543210n)) t.fail(`length ${len} with seed differs`);
  }
  t.throws(() => xxh64(Buffer.alloc(1), -1n), { code: 'SALVOR_EINVAL' });
  t.throws(() => callNative(() => addon().xxh64(Buffer.alloc(1), 1 as unknown as bigint)), { code: 'SALVOR_EINVAL' });
});

t.test('page fingerprints: known pages', async (t) => {
  const pattern = (n: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + 7) & 0xff));
  const known: [Buffer, number, bigint][] = [
    [Buffer.alloc(4096), 4096, 0xac869b6f32d8bbdbn],
    [Buffer.alloc(512), 512, 0x8bbf7f68e8c3b87cn],
    [Buffer.alloc(512, 0xff), 512, 0x81a7e47b830ada04n],
    [pattern(4096), 4096, 0xe21174be82dc78d9n],
    [pattern(65536), 65536, 0xce06607392c5113fn],
  ];
  for (const [page, size, want] of known) {
    t.equal(fingerprintsOf(page, size).readBigUInt64LE(0), want, `${size}-byte page`);
    t.equal(xxh64(page), want);
  }
});

t.test('page fingerprints equal @node-rs/xxhash xxh64 for random pages of every size', async (t) => {
  for (const size of PAGE_SIZES) {
    // 19 pages: two groups of eight hashed together plus three alone; odd offsets for region and out.
    const pages = 19;
    const region = randomBytes(size * pages + 3).subarray(3);
    const out = Buffer.alloc(pages * 8 + 5).subarray(5);
    hashPages(region, size, out);
    let same = 0;
    for (let p = 0; p < pages; p++) if (out.readBigUInt64LE(p * 8) === anchorXxh64(region.subarray(p * size, (p + 1) * size))) same++;
    t.equal(same, pages, `${size}-byte pages`);
  }
});

t.test('every kernel this CPU runs gives the anchor fingerprints', async (t) => {
  t.ok(['avx512-8page', 'scalar'].includes(hashScanBackend()), `backend ${hashScanBackend()}`);
  // The forced-scalar kernel runs in a child, since the choice is made once per process.
  const script = `
    const native = require('node-gyp-build')(${JSON.stringify(join(__dirname, '..', '..'))});
    const { xxh64 } = require('@node-rs/xxhash');
    const { randomBytes } = require('node:crypto');
    let bad = 0;
    for (const size of ${JSON.stringify(PAGE_SIZES)}) {
      const region = randomBytes(size * 11), out = Buffer.alloc(88);
      native.hashPages(region, size, out);
      for (let p = 0; p < 11; p++) if (out.readBigUInt64LE(p * 8) !== xxh64(region.subarray(p * size, (p + 1) * size))) bad++;
    }
    process.stdout.write(JSON.stringify({ backend: native.hashScanBackend, bad }));`;
  const child = spawnSync(process.execPath, ['-e', script], { env: { ...process.env, SALVOR_HASH_SCAN_BACKEND: 'scalar' }, encoding: 'utf8' });
  t.equal(child.status, 0, child.stderr);
  t.same(JSON.parse(child.stdout), { backend: 'scalar', bad: 0 });
});

t.test('scan reports exactly the changed pages over random rounds, against a shadow copy', async (t) => {
  const pageSize = 4096;
  const pages = 300; // more than one thread's minimum chunk, not a multiple of the thread counts
  const region = randomBytes(pages * pageSize);
  const hashes = fingerprintsOf(region, pageSize);
  let before = Buffer.from(region);
  const rand = prng(0x5eed);
  const kinds = ['single bytes', 'page boundaries', 'whole region', 'nothing', 'runs'] as const;
  for (let round = 0; round < 200; round++) {
    const kind = kinds[round % kinds.length];
    if (kind === 'single bytes')
      for (let i = rand(20); i >= 0; i--) {
        const at = rand(region.length);
        region[at] = (region[at] + 1 + rand(255)) & 0xff; // always a different value
      }
    else if (kind === 'page boundaries')
      for (let i = rand(5); i >= 0; i--) {
        const boundary = (1 + rand(pages - 1)) * pageSize;
        region[boundary - 1] ^= 0x80;
        region[boundary] ^= 0x01;
      }
    else if (kind === 'whole region') randomFillSync(region);
    else if (kind === 'runs')
      for (let i = rand(4); i >= 0; i--) {
        const first = rand(pages);
        const count = 1 + rand(Math.min(40, pages - first));
        randomFillSync(region, first * pageSize, count * pageSize);
      }
    const want = expectedRuns(before, region, pageSize);
    const threads = 1 + (round % 4);
    const got = round % 2 ? await scanPages(region, pageSize, hashes, threads) : scanPagesSync(region, pageSize, hashes, threads);
    if (JSON.stringify(Array.from(got)) !== JSON.stringify(want)) {
      t.same(Array.from(got), want, `round ${round} (${kind}, ${threads} threads)`);
      return;
    }
    if (kind === 'whole region') t.same(Array.from(got), [0, pages], 'a whole-region write is one run');
    if (kind === 'nothing') t.same(Array.from(got), [], 'an unchanged region reports nothing');
    t.same(hashes, fingerprintsOf(region, pageSize), 'hashes hold the current fingerprints');
    before = Buffer.from(region);
  }
  t.pass('200 rounds matched the shadow copy');
});

t.test('runs coalesce, in page order', async (t) => {
  const pageSize = 512;
  const region = Buffer.alloc(64 * pageSize);
  const hashes = fingerprintsOf(region, pageSize);
  for (const p of [0, 3, 4, 5, 9, 10, 63]) region[p * pageSize + 7] = 1;
  t.same(Array.from(scanPagesSync(region, pageSize, hashes)), [0, 1, 3, 3, 9, 2, 63, 1]);
  t.same(Array.from(scanPagesSync(region, pageSize, hashes)), []);
  t.same(Array.from(await scanPages(Buffer.alloc(0), pageSize, Buffer.alloc(0))), [], 'an empty region has no runs');
});

t.test('thread counts 1..4 give identical runs and fingerprints, across chunk borders', async (t) => {
  const pageSize = 4096;
  const pages = 1027; // 4 MiB + 3 pages: every thread count gets a chunk
  const start = randomBytes(pages * pageSize);
  const regions = [1, 2, 3, 4].map(() => Buffer.from(start));
  const hashes = regions.map((r) => fingerprintsOf(r, pageSize));
  // Chunk borders for 2..4 threads: chunk i gets floor(pages/n) pages, one more if i < pages % n.
  const borders = new Set<number>();
  for (let n = 2; n <= 4; n++) {
    let at = 0;
    for (let i = 0; i < n - 1; i++) borders.add((at += Math.floor(pages / n) + (i < pages % n ? 1 : 0)));
  }
  const rand = prng(42);
  for (let round = 0; round < 30; round++) {
    const edits: [number, number][] = [];
    for (const b of borders) if (rand(2)) edits.push([b - 1 - rand(2), 1 + rand(4)]); // a run over or next to the border
    for (let i = rand(6); i >= 0; i--) edits.push([rand(pages), 1]);
    for (const r of regions)
      for (const [first, count] of edits) for (let p = first; p < Math.min(pages, first + count); p++) r[p * pageSize + (round % pageSize)] ^= 0x5a;
    const results = await Promise.all(regions.map((r, i) => scanPages(r, pageSize, hashes[i], i + 1)));
    const want = expectedRuns(start, regions[0], pageSize);
    for (let i = 0; i < 4; i++) t.same(Array.from(results[i]), want, `round ${round}, ${i + 1} threads`);
    for (let i = 1; i < 4; i++) t.ok(hashes[i].equals(hashes[0]), `round ${round}: fingerprints with ${i + 1} threads`);
    for (const r of regions) r.copy(start); // next round compares with this state
  }
  t.ok(defaultScanThreads() >= 1 && defaultScanThreads() <= 4, `default ${defaultScanThreads()} threads`);
});

t.test('bad arguments throw SALVOR_EINVAL, from the wrappers and from the addon itself', async (t) => {
  const region = Buffer.alloc(8 * 4096);
  const hashes = Buffer.alloc(64);
  const cases: [string, () => unknown][] = [
    ['page size below 512', () => scanPagesSync(Buffer.alloc(1024), 256, Buffer.alloc(32))],
    ['page size above 65536', () => scanPagesSync(Buffer.alloc(131072), 131072, Buffer.alloc(8))],
    ['page size not a power of two', () => scanPagesSync(Buffer.alloc(3000 * 2), 3000, Buffer.alloc(16))],
    ['page size not an integer', () => scanPagesSync(region, 4096.5, hashes)],
    ['region not a multiple of the page size', () => scanPagesSync(Buffer.alloc(4096 + 512), 4096, Buffer.alloc(8))],
    ['hashes too short', () => scanPagesSync(region, 4096, Buffer.alloc(63))],
    ['hashes too long', () => hashPages(region, 4096, Buffer.alloc(72))],
    ['threads 0', () => scanPagesSync(region, 4096, hashes, 0)],
    ['threads 65', () => scanPagesSync(region, 4096, hashes, 65)],
    ['threads not an integer', () => scanPagesSync(region, 4096, hashes, 1.5)],
    ['region not a buffer', () => scanPagesSync('x' as unknown as Buffer, 4096, hashes)],
  ];
  for (const [what, call] of cases) t.throws(call, { code: 'SALVOR_EINVAL', name: 'SalvorError' }, what);
  t.throws(() => scanPagesSync(region, 4096, Buffer.alloc(8)), { message: /exactly 8 bytes per page \(64 bytes for 8 pages\), got 8/ });
  t.throws(() => scanPagesSync(region, 1000, hashes), { message: /pageSize must be a power of two from 512 to 65536, got 1000/ });
  await t.rejects(scanPages(region, 4096, Buffer.alloc(1)), { code: 'SALVOR_EINVAL' });

  // The addon checks again, without the wrappers (a caller inside bindings/ could skip them).
  const native = addon();
  const raw: [string, () => unknown][] = [
    ['page size', () => native.scanPagesSync(region, 1024 + 512, hashes)],
    ['region length', () => native.hashPages(Buffer.alloc(4097), 4096, Buffer.alloc(8))],
    ['hashes length', () => native.scanPagesSync(region, 4096, Buffer.alloc(8))],
    ['threads', () => native.scanPagesSync(region, 4096, hashes, 65)],
    ['hashes overlapping the region', () => native.hashPages(region, 512, region.subarray(0, 512))],
    ['missing hashes', () => (native.scanPagesSync as (...a: unknown[]) => unknown)(region, 4096)],
  ];
  for (const [what, call] of raw) t.throws(() => callNative(call), { code: 'SALVOR_EINVAL' }, `native: ${what}`);
  const whole = Buffer.alloc(4096 + 8);
  t.doesNotThrow(() => native.scanPagesSync(whole.subarray(0, 4096), 4096, whole.subarray(4096)), 'disjoint parts of one buffer are fine');
  await t.rejects(callNativeAsync(() => native.scanPages(region, 4096, Buffer.alloc(3))), { code: 'SALVOR_EINVAL' });
});

t.test('scans in flight keep their buffers alive', async (t) => {
  const pending: Promise<Uint32Array>[] = [];
  for (let i = 0; i < 16; i++) {
    // Nothing else references these buffers; all-zero fingerprints never match, so every page is reported.
    pending.push(scanPages(randomBytes(64 * 4096), 4096, Buffer.alloc(64 * 8)));
    Buffer.alloc(8 << 20).fill(i); // garbage to give the collector work
  }
  for (const runs of await Promise.all(pending)) t.same(Array.from(runs), [0, 64]);
});

t.test('a page changed after the scan and changed back needs the copy fingerprints to be seen', async (t) => {
  // Scan reads X, the page becomes Y, the consumer copies Y, the page goes back to X: X's fingerprint
  // is still stored, so the next scan is silent while the copy holds Y. Storing the fingerprint of
  // what was copied (hashPages on the copy) makes the next scan report the page.
  const pageSize = 4096;
  for (const rehash of [false, true]) {
    const region = randomBytes(4 * pageSize);
    const hashes = fingerprintsOf(region, pageSize);
    const shadow = Buffer.from(region);
    const x = Buffer.from(region.subarray(pageSize, 2 * pageSize));
    region[pageSize + 100] ^= 1; // X -> Y, after the scan that stored X's fingerprint
    region.copy(shadow, pageSize, pageSize, 2 * pageSize); // the consumer copies Y
    if (rehash) hashPages(shadow.subarray(pageSize, 2 * pageSize), pageSize, hashes.subarray(8, 16));
    x.copy(region, pageSize); // Y -> X
    const runs = Array.from(scanPagesSync(region, pageSize, hashes));
    if (rehash) t.same(runs, [1, 1], 'with the copy fingerprint stored, the page is reported again');
    else t.same(runs, [], 'copy-only: the scan cannot tell, the copy is stale');
  }
});

/** A worker that writes into a SharedArrayBuffer until told to stop; returns how many writes it made. */
function startWriter(shared: SharedArrayBuffer, control: SharedArrayBuffer, pageSize: number, minBytes: number): Promise<number> {
  const code = `
    const { workerData, parentPort } = require('node:worker_threads');
    const { shared, control, pageSize, minBytes } = workerData;
    const region = new Uint8Array(shared), stop = new Int32Array(control);
    let s = 0x9e3779b9, writes = 0;
    const next = (n) => { s ^= s << 13; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s % n; };
    while (Atomics.load(stop, 0) === 0) {
      const page = next(region.length / pageSize);
      // A random range from minBytes to two pages long, sometimes across a page border.
      const len = minBytes + next(2 * pageSize - minBytes);
      const at = Math.min(region.length - len, page * pageSize + next(pageSize));
      for (let i = 0; i < len; i++) region[at + i] = next(256);
      writes++;
      Atomics.store(stop, 1, writes);
    }
    parentPort.postMessage(writes);`;
  const worker = new Worker(code, { eval: true, workerData: { shared, control, pageSize, minBytes } });
  return new Promise((resolve, reject) => {
    let writes = 0;
    worker.on('message', (n: number) => (writes = n));
    worker.on('error', reject);
    worker.on('exit', (code) => (code === 0 ? resolve(writes) : reject(new Error(`writer exited with ${code}`))));
  });
}

for (const protocol of ['copy reported pages', 'copy reported pages and store the copy fingerprints'] as const) {
  t.test(`a concurrent writer loses no write (${protocol})`, async (t) => {
    const pageSize = 4096;
    const pages = 1024;
    const shared = new SharedArrayBuffer(pages * pageSize);
    const control = new SharedArrayBuffer(8); // [stop, writes so far]
    const region = Buffer.from(shared);
    randomFillSync(region);
    const shadow = Buffer.from(region);
    const hashes = fingerprintsOf(region, pageSize);
    // Copy-only needs writes that never put back bytes a page held before (8+ random bytes);
    // storing the copy's fingerprints makes even single-byte writes safe.
    const rehash = protocol !== 'copy reported pages';
    const writer = startWriter(shared, control, pageSize, rehash ? 1 : 8);
    let reported = 0;
    const follow = (runs: Uint32Array) => {
      for (let i = 0; i < runs.length; i += 2) {
        const from = runs[i] * pageSize;
        const to = from + runs[i + 1] * pageSize;
        region.copy(shadow, from, from, to);
        if (rehash) hashPages(shadow.subarray(from, to), pageSize, hashes.subarray(runs[i] * 8, (runs[i] + runs[i + 1]) * 8));
        reported += runs[i + 1];
      }
    };
    // At least 400 rounds, and on until the writer has really run (a worker may start late on a busy machine).
    const progress = new Int32Array(control);
    for (let round = 0; round < 400 || Atomics.load(progress, 1) < 200; round++) follow(await scanPages(region, pageSize, hashes, 1 + (round % 4)));
    Atomics.store(new Int32Array(control), 0, 1);
    const writes = await writer;
    follow(await scanPages(region, pageSize, hashes));
    t.ok(writes > 0 && reported > 0, `${writes} writes, ${reported} pages reported`);
    t.ok(shadow.equals(region), 'the shadow equals the region after the final scan');
    t.same(Array.from(scanPagesSync(region, pageSize, hashes)), [], 'and nothing is left to report');
  });
}
