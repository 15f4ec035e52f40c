import t from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DeviceOpener, NvramDevice } from '../../../lib/nvram/device';
import { openUbootStore } from '../../../lib/nvram/uboot/uboot-store';
import { MemoryNvramDevice } from '../../../platform/sim/memory-device';
import { assertUbootTools, fwPrintenv, mkenvimage, openStore, writeConfig } from './uboot-tools';

t.test('U-Boot tools are installed', async (t) => assertUbootTools(t));

for (const redundant of [false, true]) {
  t.test(`${redundant ? 'redundant' : 'single'}: a value too large is refused and the device bytes stay unchanged`, async (t) => {
    const dir = t.testdir();
    const img = mkenvimage(dir, 'env.img', '0x100', ['a=1', 'b=2'], redundant);
    const cfg = writeConfig(dir, [`${img} 0 0x100`, ...(redundant ? [`${join(dir, 'env2.img')} 0 0x100`] : [])]);
    if (redundant) mkenvimage(dir, 'env2.img', '0x100', ['a=1', 'b=2'], true);
    const before = [readFileSync(img), redundant ? readFileSync(join(dir, 'env2.img')) : Buffer.alloc(0)];
    const env = await openStore(cfg);
    t.teardown(() => env.close());
    const capacity = 0x100 - (redundant ? 5 : 4);
    await t.rejects(env.set('big', { type: 'string', value: 'x'.repeat(capacity) }), {
      code: 'SALVOR_BAD_INPUT',
      message: new RegExp(`need ${capacity + 14} bytes, the data area holds ${capacity} \\(envsize 0x100\\); nothing was written`),
    });
    t.same(readFileSync(img), before[0]);
    if (redundant) t.same(readFileSync(join(dir, 'env2.img')), before[1]);
    // exactly full fits: "a=1\0b=2\0big=...\0\0"
    await env.set('big', { type: 'string', value: 'x'.repeat(capacity - 8 - 5 - 1) });
    t.equal(fwPrintenv(cfg).get('big')?.length, capacity - 14);
  });
}

t.test('values U-Boot cannot hold are bad input, and nothing is written', async (t) => {
  const dir = t.testdir();
  const img = mkenvimage(dir, 'env.img', '0x100', ['a=1']);
  const cfg = writeConfig(dir, [`${img} 0 0x100`]);
  const before = readFileSync(img);
  const env = await openStore(cfg);
  t.teardown(() => env.close());
  const bad = (message: RegExp) => ({ code: 'SALVOR_BAD_INPUT', message });
  await t.rejects(env.set('blob', { type: 'bytes', value: Buffer.from([1, 2]) }), bad(/U-Boot environments hold text/));
  await t.rejects(env.set('a=b', { type: 'string', value: 'x' }), bad(/contains '='/));
  await t.rejects(env.set('a\0b', { type: 'string', value: 'x' }), bad(/NUL/));
  await t.rejects(env.set('', { type: 'string', value: 'x' }), bad(/empty/));
  await t.rejects(env.set('k', { type: 'string', value: 'x\0y' }), bad(/value contains a NUL/));
  t.same(readFileSync(img), before);
});

t.test('bad config files are bad input naming the line', async (t) => {
  const dir = t.testdir();
  const img = mkenvimage(dir, 'env.img', '0x100', ['a=1']);
  const cases: [string[], number, RegExp][] = [
    [[`${img} 0x0 0xzz`], 1, /envsize '0xzz'/],
    [['# header', `${img} 0`], 2, /missing fields/],
    [[`${img} 0 0x100`, `${img} 0x100 0x100`, `${img} 0x200 0x100`], 3, /too many environment lines/],
  ];
  for (const [lines, line, what] of cases) {
    const cfg = writeConfig(dir, lines, `bad${line}.cfg`);
    await t.rejects(openStore(cfg), { code: 'SALVOR_BAD_INPUT', message: new RegExp(`^${cfg}:${line}: .*${what.source}`) });
  }
});

t.test('defaults that are not valid U-Boot text or do not fit are bad input at open', async (t) => {
  const dir = t.testdir();
  const img = mkenvimage(dir, 'env.img', '0x40', ['a=1']);
  const cfg = writeConfig(dir, [`${img} 0 0x40`]);
  await t.rejects(openStore(cfg, { defaults: { 'x=y': '1' } }), { code: 'SALVOR_BAD_INPUT' });
  await t.rejects(openStore(cfg, { defaults: { big: 'x'.repeat(0x40) } }), { code: 'SALVOR_BAD_INPUT', message: /defaults need/ });
});

/** A store over in-memory devices: `images` maps device path -> bytes. */
function memoryOpener(images: Map<string, Buffer>, opened: NvramDevice[] = []): DeviceOpener {
  return async (path) => {
    const bytes = images.get(path);
    if (!bytes) throw Object.assign(new Error(`no ${path}`), { code: 'ENOENT' });
    const device = new MemoryNvramDevice(path, bytes);
    opened.push(device);
    return device;
  };
}

t.test('writes take the device lock and keep it until close', async (t) => {
  const dir = t.testdir();
  const img = readFileSync(mkenvimage(dir, 'env.img', '0x100', ['a=1'], true));
  const images = new Map([['/dev/sim0', Buffer.concat([img, img])]]);
  const cfg = writeConfig(dir, ['/dev/sim0 0 0x100', '/dev/sim0 0x100 0x100']);
  const opened: NvramDevice[] = [];
  const env = await openUbootStore(cfg, memoryOpener(images, opened), { writable: true });
  t.equal(opened.length, 1, 'both copies share one device handle');
  await env.set('b', { type: 'string', value: '2' });
  await env.set('c', { type: 'string', value: '3' });
  const other = new MemoryNvramDevice('/dev/sim0', images.get('/dev/sim0')!); // a second handle, as another process has
  await t.rejects(other.lock(false, 0), { code: 'SALVOR_LOCKED' }, 'lock held after the write');
  await env.close();
  await env.close();
  await other.lock(true, 0);
  t.pass('close released the lock');
  await other.close();
  await t.rejects(opened[0].read(0, 1), { code: 'SALVOR_CLOSED' }, 'close closed the device');
  await t.rejects(env.get('a'), { code: 'SALVOR_CLOSED' });
});

t.test('a second salvor process waits for the lock, then sees the first one\'s write', async (t) => {
  const dir = t.testdir();
  const copy = readFileSync(mkenvimage(dir, 'copy.img', '0x80', [], true));
  const img = join(dir, 'env.img');
  writeFileSync(img, Buffer.concat([copy, copy]));
  const cfg = writeConfig(dir, [`${img} 0 0x80`, `${img} 0x80 0x80`]);
  const first = await openStore(cfg, { lockTimeoutMs: 50 });
  const second = await openStore(cfg, { lockTimeoutMs: 50 });
  t.teardown(() => Promise.all([first.close(), second.close()]));
  await first.set('from', { type: 'string', value: 'first' });
  await t.rejects(second.set('from', { type: 'string', value: 'second' }), { code: 'SALVOR_LOCKED' });
  await first.close();
  await second.set('other', { type: 'string', value: 'second' });
  t.same(Object.fromEntries(fwPrintenv(cfg)), { from: 'first', other: 'second' });
});

t.test('read-only stores refuse writes; raw MTD character devices are refused for writing', async (t) => {
  const dir = t.testdir();
  const img = readFileSync(mkenvimage(dir, 'env.img', '0x100', ['a=1']));
  const cfg = writeConfig(dir, ['/dev/sim0 0 0x100']);
  const ro = await openUbootStore(cfg, memoryOpener(new Map([['/dev/sim0', img]])), { writable: false });
  t.teardown(() => ro.close());
  await t.rejects(ro.set('a', { type: 'string', value: '2' }), { code: 'SALVOR_USAGE' });
  await t.rejects(ro.recover(), { code: 'SALVOR_USAGE' });
  t.same(await ro.get('a'), { type: 'string', value: '1' });

  const charOpener: DeviceOpener = async (path) => {
    const inner = new MemoryNvramDevice(path, Buffer.from(img));
    return Object.assign(Object.create(inner) as NvramDevice, { kind: 'char' as const });
  };
  const mtd = await openUbootStore(cfg, charOpener, { writable: true });
  t.teardown(() => mtd.close());
  t.same(await mtd.get('a'), { type: 'string', value: '1' }, 'reading is fine');
  await t.rejects(mtd.set('a', { type: 'string', value: '2' }), { code: 'SALVOR_UNSUPPORTED', message: /mtdblock/ });
});

t.test('a missing device is ENOENT naming it', async (t) => {
  const dir = t.testdir();
  const cfg = writeConfig(dir, [`${join(dir, 'nope.img')} 0 0x100`]);
  await t.rejects(openStore(cfg), { code: 'ENOENT', path: join(dir, 'nope.img') });
});
