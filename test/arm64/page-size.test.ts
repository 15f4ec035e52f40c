import t from 'tap';
import { randomBytes } from 'node:crypto';
import { RegionHandle } from '../../bindings/region';
import { applyPageDeltas, encodePageDeltas } from '../../bindings/page-delta';
import { hashPages, scanPagesSync, xxh64 } from '../../bindings/hash-scan';
import { flipByte, workspace } from '../nvram/helpers';
import { AT_PAGESZ, auxvEntry } from './auxv';

// The page engine and the NVRAM sector logic at the machine's own page size: 4 KiB on x86-64, and
// 16 KiB when `npm run test:arm64` runs this file again with QEMU_PAGESIZE=16384, as on arm64
// kernels built with 16K pages.

const pageSize = Number(auxvEntry(AT_PAGESZ) ?? 4096n);
t.comment(`page size ${pageSize} (AT_PAGESZ)`);

t.test('a region is made of whole pages of the machine size', async (t) => {
  const region = RegionHandle.anonymous(8 * pageSize);
  t.teardown(() => region.close());
  t.equal(region.size, 8 * pageSize);
  t.throws(() => RegionHandle.anonymous(8 * pageSize + pageSize / 2), new RegExp(`page size ${pageSize}\\b`), 'half a page is refused, naming the page size');
});

/** Writes one byte at each offset, then collects the tracker's runs as [first, count] pairs. */
async function dirtyRuns(region: RegionHandle, kind: 'mprotect' | 'hash', offsets: number[]): Promise<number[]> {
  await region.arm(kind);
  const buf = region.buffer();
  for (const off of offsets) buf[off] ^= 0x5a;
  return Array.from(await region.collect(kind));
}

for (const kind of ['mprotect', 'hash'] as const) {
  t.test(`the ${kind} tracker counts in pages of ${pageSize} bytes`, async (t) => {
    const region = RegionHandle.anonymous(8 * pageSize);
    t.teardown(() => region.close());
    try {
      region.attach(kind);
    } catch (err) {
      return t.skip(`${kind} cannot attach here: ${(err as Error).message}`);
    }
    region.buffer().fill(7);
    // Page 3 at its first and last byte, page 6 at its first: two runs of one page each.
    const runs = await dirtyRuns(region, kind, [3 * pageSize + 5, 4 * pageSize - 1, 6 * pageSize]);
    t.same(runs, [3, 1, 6, 1]);
    const staged = await region.stage(Uint32Array.from(runs));
    const buf = region.buffer();
    t.ok(staged.equals(Buffer.concat([buf.subarray(3 * pageSize, 4 * pageSize), buf.subarray(6 * pageSize, 7 * pageSize)])), 'stage copies those two pages');
    t.same(await dirtyRuns(region, kind, []), [], 'nothing written, nothing reported');
    region.detach(kind);
  });
}

t.test(`page deltas and fingerprints over ${pageSize}-byte pages`, async (t) => {
  const pages = 6;
  const before = randomBytes(pages * pageSize);
  const after = Buffer.from(before);
  for (const off of [0, pageSize - 1, 2 * pageSize + 100, 5 * pageSize + pageSize / 2]) after[off] ^= 0xff;
  after.fill(9, 3 * pageSize + 64, 3 * pageSize + 64 + 1000);
  const replica = Buffer.from(before);
  t.equal(applyPageDeltas(replica, encodePageDeltas(before, after, pageSize), pageSize), 4, 'four pages changed');
  t.ok(replica.equals(after), 'the replica matches after applying');

  const prints = Buffer.alloc(pages * 8);
  hashPages(before, pageSize, prints);
  for (let p = 0; p < pages; p++) t.equal(prints.readBigUInt64LE(p * 8), xxh64(before.subarray(p * pageSize, (p + 1) * pageSize)), `page ${p} fingerprint`);
  t.same(Array.from(scanPagesSync(after, pageSize, prints)), [0, 1, 2, 2, 5, 1], 'the scan reports the changed pages');
});

t.test(`NVRAM with ${pageSize}-byte sectors: a bad data sector comes back from its spare`, async (t) => {
  const ws = workspace(t);
  const opts = { timeoutMs: 600_000 }; // each command starts a Node, many times slower under an emulator
  const img = ws.path('nv.img');
  const size = 16 * pageSize; // 4 fixed sectors, 6 data, 6 spare
  const format = await ws.run(['nvram', 'format', '--device', img, '--size', String(size), '--sector-size', String(pageSize), '--json'], opts);
  t.equal(format.code, 0, format.stderr);
  t.match(format.json(), { geometry: { sectorSize: pageSize, dataSectors: 6 } });
  t.equal((await ws.run(['nvram', 'set', '--device', img, 'board', 'rev-b'], opts)).code, 0, 'set');
  const dataStart = 4;
  flipByte(img, dataStart * pageSize + 17);
  const check = await ws.run(['nvram', 'check', '--device', img, '--json'], opts);
  t.equal(check.code, 4, 'check finds the bad sector and leaves it');
  t.match(check.json(), { badSectors: [{ sector: dataStart, source: 'spare' }], clean: false });
  const recover = await ws.run(['nvram', 'recover', '--device', img, '--json'], opts);
  t.equal(recover.code, 1, 'recover corrects it');
  t.match(recover.json(), { recovered: [{ sector: dataStart, source: 'spare' }], uncorrected: [], clean: true });
  t.equal((await ws.run(['nvram', 'check', '--device', img], opts)).code, 0, 'clean afterwards');
  t.equal((await ws.run(['nvram', 'get', '--device', img, 'board'], opts)).stdout.trim(), 'rev-b');
});
