import t, { type Test } from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { NvramDevice } from '../../lib/nvram/device';
import { openKernelNvramDevice } from '../../platform/linux/nvram-device';
import { MemoryNvramDevice } from '../../platform/sim/memory-device';
import { assertFails, checkNoHandleLeft, seededBytes, tempDir, workspace } from './helpers';

// The NvramDevice contract (lib/nvram/device.ts), one suite run against every backend: the kernel
// device on an image file and on a real loop block device, and the in-memory simulation. Then the
// CLI on a loop device, and power cuts injected through SALVOR_FAULT (platform/sim/faulty-device.ts).

const SIZE = 64 * 1024;

checkNoHandleLeft(t);

interface Storage {
  /** Opens a handle on the storage; a second call gives a second, independent handle on the same bytes. */
  open(): Promise<NvramDevice>;
  kind: NvramDevice['kind'];
  path: string;
}

interface Backend {
  name: string;
  /** Why the backend cannot run here, or a function that makes fresh zeroed storage (cleaned up in teardown). */
  create(t: Test): Promise<Storage | string>;
  /** Whether the lock excludes other handles on the same storage. */
  locksAcrossHandles: boolean;
}

/** Attaches a loop device to a fresh image (detached in teardown), or says why there is none. */
function loopDevice(t: Test, image: string): string | { skip: string } {
  if (!existsSync('/dev/loop-control')) return { skip: '/dev/loop-control is absent: this kernel or container offers no loop devices' };
  const r = spawnSync('losetup', ['--find', '--show', image], { encoding: 'utf8' });
  if (r.error || r.status !== 0) return { skip: `losetup --find --show failed: ${r.error?.message ?? r.stderr.trim()}` };
  const dev = r.stdout.trim();
  t.teardown(() => {
    spawnSync('losetup', ['-d', dev]);
  });
  return dev;
}

const backends: Backend[] = [
  {
    name: 'linux kernel device on an image file',
    locksAcrossHandles: true,
    async create(t) {
      const path = join(tempDir(t, 'salvor-device-'), 'nv.img');
      writeFileSync(path, Buffer.alloc(SIZE));
      return { path, kind: 'file', open: () => openKernelNvramDevice(path, { writable: true }) };
    },
  },
  {
    name: 'linux kernel device on a loop block device',
    locksAcrossHandles: true,
    async create(t) {
      const image = join(tempDir(t, 'salvor-device-'), 'backing.img');
      writeFileSync(image, Buffer.alloc(SIZE));
      const dev = loopDevice(t, image);
      if (typeof dev !== 'string') return dev.skip;
      return { path: dev, kind: 'block', open: () => openKernelNvramDevice(dev, { writable: true }) };
    },
  },
  {
    name: 'simulated memory device',
    // MemoryNvramDevice keeps its lock per instance: a second instance over the same bytes is not kept out.
    locksAcrossHandles: false,
    async create() {
      const bytes = Buffer.alloc(SIZE);
      return { path: 'sim:nvram0', kind: 'sim', open: async () => new MemoryNvramDevice('sim:nvram0', bytes) };
    },
  },
];

async function rejectsWith(t: Test, p: Promise<unknown>, code: string | RegExp, what: string): Promise<void> {
  await t.rejects(p, { code }, what);
}

for (const backend of backends) {
  t.test(`NvramDevice contract: ${backend.name}`, async (t) => {
    const storage = await backend.create(t);
    if (typeof storage === 'string') {
      t.comment(`skipped: ${storage}`);
      t.plan(0, storage);
      return;
    }
    const opened: NvramDevice[] = [];
    const open = async () => {
      const d = await storage.open();
      opened.push(d);
      return d;
    };
    t.teardown(async () => {
      for (const d of opened) await d.close();
    });

    t.test('reports its path, size and kind', async (t) => {
      const d = await open();
      t.equal(d.path, storage.path);
      t.equal(d.size, SIZE);
      t.equal(d.kind, storage.kind);
      await d.close();
    });

    t.test('reads what was written, anywhere in [0, size)', async (t) => {
      const d = await open();
      t.same(await d.read(0, 16), Buffer.alloc(16), 'fresh storage reads as zeros');
      const head = seededBytes(4096, 1);
      const middle = seededBytes(777, 2);
      const tail = seededBytes(513, 3);
      await d.write(0, head);
      await d.write(10_001, middle);
      await d.write(SIZE - tail.length, tail);
      t.same(await d.read(0, head.length), head, 'at the start');
      t.same(await d.read(10_001, middle.length), middle, 'at an odd offset');
      t.same(await d.read(SIZE - tail.length, tail.length), tail, 'up to the last byte');
      t.same(await d.read(10_000, 1), Buffer.alloc(1), 'bytes around a write are untouched');
      t.same(await d.read(SIZE, 0), Buffer.alloc(0), 'an empty read at the end');
      await d.write(10_001, new Uint8Array([1, 2, 3]));
      t.same(await d.read(10_001, 4), Buffer.concat([Buffer.from([1, 2, 3]), middle.subarray(3, 4)]), 'a Uint8Array overwrite');
      await d.flush();
      await d.close();
    });

    t.test('flush, then close: the next handle sees the writes', async (t) => {
      const d = await open();
      const bytes = seededBytes(1000, 4);
      await d.write(2048, bytes);
      await d.flush();
      await d.close();
      const again = await open();
      t.same(await again.read(2048, bytes.length), bytes);
      await again.close();
    });

    t.test('ranges outside the device are SALVOR_RANGE and change nothing', async (t) => {
      const d = await open();
      await d.write(SIZE - 2, Buffer.from([7, 7]));
      await rejectsWith(t, d.read(SIZE - 1, 2), 'SALVOR_RANGE', 'read past the end');
      await rejectsWith(t, d.read(-1, 1), 'SALVOR_RANGE', 'read before the start');
      await rejectsWith(t, d.read(SIZE + 1, 0), 'SALVOR_RANGE', 'empty read beyond the end');
      await rejectsWith(t, d.write(SIZE - 1, Buffer.from([1, 2])), 'SALVOR_RANGE', 'write past the end');
      await rejectsWith(t, d.write(-4, Buffer.from([1])), 'SALVOR_RANGE', 'write before the start');
      const err = await d.read(SIZE, 1).then(() => undefined, (e: Error & { path?: string }) => e);
      t.match(err, { path: storage.path, message: storage.path }, 'the error names the device');
      await d.flush();
      t.same(await d.read(SIZE - 2, 2), Buffer.from([7, 7]), 'the failed write left the last bytes alone');
      await d.close();
    });

    t.test('close is safe twice; the handle is unusable after it', async (t) => {
      const d = await open();
      await d.close();
      await t.resolves(d.close(), 'a second close resolves');
      await rejectsWith(t, d.read(0, 1), 'SALVOR_CLOSED', 'read after close');
      await rejectsWith(t, d.write(0, Buffer.from([1])), 'SALVOR_CLOSED', 'write after close');
      await t.rejects(d.flush(), 'flush after close rejects');
      await t.rejects(d.lock(true, 10), 'lock after close rejects');
    });

    t.test('lock: taken, and released by close', async (t) => {
      const d = await open();
      await t.resolves(d.lock(true, 100), 'an exclusive lock on a fresh handle');
      await d.close();
      const next = await open();
      await t.resolves(next.lock(true, 100), 'close released it for the next handle');
      await next.close();
    });

    if (backend.locksAcrossHandles)
      t.test('lock: an exclusive holder keeps other handles out until it closes', async (t) => {
        const holder = await open();
        await holder.lock(true, 100);
        const other = await open();
        const started = Date.now();
        await rejectsWith(t, other.lock(true, 150), 'SALVOR_LOCKED', 'a second exclusive lock times out');
        t.ok(Date.now() - started >= 140, 'after waiting the timeout');
        await rejectsWith(t, other.lock(false, 50), 'SALVOR_LOCKED', 'so does a shared one');
        const waiting = other.lock(true, 5000);
        setTimeout(() => void holder.close(), 200);
        await t.resolves(waiting, 'a waiter gets the lock once the holder closes');
        const reader = await open();
        await rejectsWith(t, reader.lock(false, 50), 'SALVOR_LOCKED', 'a shared lock waits for the exclusive holder');
        await other.close();
        await t.resolves(reader.lock(false, 100), 'shared after the writer is gone');
        const reader2 = await open();
        await t.resolves(reader2.lock(false, 100), 'shared locks coexist');
        await rejectsWith(t, (await open()).lock(true, 50), 'SALVOR_LOCKED', 'and keep a writer out');
      });
  });
}

t.test('the CLI cycle on a loop block device: format, set, damage with dd, check, recover, get', async (t) => {
  const ws = workspace(t);
  const backing = ws.path('backing.img');
  writeFileSync(backing, Buffer.alloc(SIZE));
  const dev = loopDevice(t, backing);
  if (typeof dev !== 'string') {
    t.comment(`skipped: ${dev.skip}`);
    t.plan(0, dev.skip);
    return;
  }
  const run = (args: string[]) => ws.run(['nvram', ...args]);
  const format = await run(['format', '--device', dev, '--size', '64K', '--json']);
  t.equal(format.code, 0, `format ${dev} (${format.stderr.trim()})`);
  t.match(format.json(), { device: dev, created: false, geometry: { sectorSize: 4096, dataStart: 4, spareStart: 10 } });
  t.equal((await run(['set', '--device', dev, 'hostname', 'edge-7'])).code, 0);
  t.equal((await run(['set', '--device', dev, 'boot_count', '3', '--type', 'int'])).code, 0);
  const garbage = ws.path('garbage.bin');
  writeFileSync(garbage, seededBytes(512, 9));
  const dd = spawnSync('dd', [`if=${garbage}`, `of=${dev}`, 'bs=512', `seek=${(4 * 4096 + 1024) / 512}`, 'count=1', 'conv=notrunc,fsync'], { encoding: 'utf8' });
  t.equal(dd.status, 0, `dd through ${dev}: ${dd.stderr.trim()}`);
  const check = await run(['check', '--device', dev, '--json']);
  t.equal(check.code, 4, 'check finds the damage');
  t.match(check.json(), { header: 'ok', badSectors: [{ sector: 4, source: 'spare' }], clean: false });
  const recover = await run(['recover', '--device', dev, '--json']);
  t.equal(recover.code, 1, 'recover repairs it');
  t.same(recover.json().recovered, [{ sector: 4, source: 'spare' }]);
  t.equal((await run(['get', '--device', dev, 'hostname'])).stdout, 'edge-7\n');
  t.equal((await run(['get', '--device', dev, 'boot_count'])).stdout, '3\n');
  t.equal((await run(['check', '--device', dev])).code, 0, 'clean afterwards');
});

t.test('SALVOR_FAULT power cuts through the CLI: old or new value, then recover settles it', async (t) => {
  const ws = workspace(t);
  const img = ws.path('nv.img');
  t.equal((await ws.run(['nvram', 'format', '--device', img, '--size', '8K'])).code, 0);
  const oldValue = 'o'.repeat(400);
  const newValue = 'n'.repeat(400);
  for (let cut = 0; cut < 8; cut++) {
    t.equal((await ws.run(['nvram', 'set', '--device', img, 'slot', oldValue])).code, 0, 'the old value');
    const env = { SALVOR_FAULT: `nvram-cut:${cut}:${cut + 11}`, SALVOR_FAULT_ACTION: 'throw' };
    const r = await ws.run(['nvram', 'set', '--device', img, 'slot', newValue], { env });
    if (r.code !== 0) assertFails(t, r, 8, [/power cut/, /nv\.img/]);
    const seen = (await ws.run(['nvram', 'get', '--device', img, 'slot'])).stdout.trim();
    t.ok(seen === oldValue || seen === newValue, `cut after ${cut} writes: a reader sees the old or the new value`);
    if (r.code === 0) t.equal(seen, newValue, 'a set that succeeded is there');
    const check = await ws.run(['nvram', 'check', '--device', img, '--json']);
    const rec = await ws.run(['nvram', 'recover', '--device', img, '--json']);
    t.ok(rec.code === 0 || rec.code === 1, `recover exits 0 or 1 (${rec.code}: ${rec.stderr.trim()})`);
    // What check announces and recover reports is what the key ends up holding.
    const settled = { 'roll-forward': newValue, 'roll-back': oldValue } as Record<string, string>;
    const done = { 'rolled-forward': newValue, 'rolled-back': oldValue } as Record<string, string>;
    if (check.json().journal in settled) t.equal(settled[check.json().journal], seen, `check's ${check.json().journal} matches the value a reader sees`);
    if (rec.json().journal in done) t.equal(done[rec.json().journal], seen, `recover's ${rec.json().journal} matches the value kept`);
    t.equal((await ws.run(['nvram', 'check', '--device', img])).code, 0, 'clean after recover');
    t.equal((await ws.run(['nvram', 'get', '--device', img, 'slot'])).stdout.trim(), seen, 'recover kept what the reader saw');
  }
  const noCut = await ws.run(['nvram', 'set', '--device', img, 'slot', newValue], { env: { SALVOR_FAULT: 'nvram-cut:1000', SALVOR_FAULT_ACTION: 'throw' } });
  t.equal(noCut.code, 0, 'a cut scheduled past the last write changes nothing');
});
