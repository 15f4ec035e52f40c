import t from 'tap';
import { openSync, closeSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addon, callNative, callNativeAsync } from '../../bindings/addon';
import { SalvorError, errnoName } from '../../bindings/salvor-error';

t.test('native errno errors become SalvorError with code, errno, syscall and path', async (t) => {
  const err = (() => {
    try {
      callNative(() => addon().deviceInfo(987654), '/dev/example');
    } catch (e) {
      return e;
    }
  })() as SalvorError;
  t.type(err, SalvorError);
  t.equal(err.code, 'EBADF');
  t.equal(err.errno, -9);
  t.equal(err.syscall, 'fstat');
  t.equal(err.path, '/dev/example');
  t.match(err.message, /fstat.*\/dev\/example/);
});

t.test('native argument errors carry a SALVOR_ code', async (t) => {
  t.throws(() => callNative(() => addon().verifySectors(Buffer.alloc(100), 64, 0)), { code: 'SALVOR_EINVAL', name: 'SalvorError' });
  await t.rejects(callNativeAsync(() => addon().verifySectorsAsync(Buffer.alloc(10), 4, 0)), { code: 'SALVOR_EINVAL' });
});

t.test('errno names follow the OS table', async (t) => {
  t.equal(errnoName(-2), 'ENOENT');
  t.equal(errnoName(13), 'EACCES');
  t.equal(errnoName(99999), 'ERRNO_99999');
});

t.test('device info and locks on a real file', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'salvor-dev-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'img');
  writeFileSync(file, Buffer.alloc(8192));
  const a = openSync(file, 'r+');
  const b = openSync(file, 'r+');
  t.teardown(() => {
    closeSync(a);
    closeSync(b);
  });
  t.same(addon().deviceInfo(a), { kind: 'file', size: 8192, logicalBlockSize: 1 });
  t.equal(addon().lockDevice(a, true), true, 'first exclusive lock taken');
  t.equal(addon().lockDevice(b, true), false, 'second open file description is refused, not blocked');
  t.equal(addon().lockDevice(b, false), false, 'a shared lock is refused while exclusive is held');
  addon().unlockDevice(a);
  t.equal(addon().lockDevice(b, false), true, 'shared lock after release');
  t.equal(addon().lockDevice(a, false), true, 'two shared holders');
});

t.test('sealed sectors verify; a flipped byte or a misplaced sector is reported', async (t) => {
  const region = Buffer.alloc(16 * 512);
  for (let i = 0; i < region.length; i++) region[i] = (i * 7) & 0xff;
  addon().sealSectors(region, 512, 100);
  t.same(addon().verifySectors(region, 512, 100), []);
  t.same(await addon().verifySectorsAsync(region, 512, 100), []);
  region[3 * 512 + 5] ^= 1;
  region.copy(region, 9 * 512, 8 * 512, 9 * 512); // sector 8's bytes in sector 9's place
  t.same(addon().verifySectors(region, 512, 100), [3, 9]);
  t.same(await addon().verifySectorsAsync(region, 512, 100), [3, 9]);
  t.same(addon().verifySectors(region, 512, 0).length, 16, 'wrong first index: every sector is misplaced');
});
