import t from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseUbootConfig, readUbootConfig } from '../../../lib/nvram/uboot/fw-env-config';
import { SalvorError } from '../../../bindings/salvor-error';
import { assertUbootTools, fwPrintenv, mkenvimage, openStore, storeVariables, writeConfig } from './uboot-tools';

t.test('U-Boot tools are installed', async (t) => assertUbootTools(t));

t.test('one line is a single copy, two lines a redundant pair', async (t) => {
  const single = parseUbootConfig('# env\n\n/dev/mmcblk0 0x3f8000 0x4000\n', 'a.cfg');
  t.same(single.copies, [{ device: '/dev/mmcblk0', offset: 0x3f8000, envSize: 0x4000, sectorSize: undefined, sectorCount: undefined, line: 3 }]);
  const pair = parseUbootConfig('/dev/mtdblock1\t0x0000\t0x4000\t0x10000 # NOR\n  /dev/mtdblock2 0 4000 10000 2\n', 'b.cfg');
  t.equal(pair.copies.length, 2);
  t.match(pair.copies[0], { offset: 0, envSize: 0x4000, sectorSize: 0x10000, sectorCount: undefined, line: 1 });
  t.match(pair.copies[1], { device: '/dev/mtdblock2', offset: 0, envSize: 0x4000, sectorSize: 0x10000, sectorCount: 2, line: 2 });
});

t.test('offsets are C integers, sizes are always hex (as fw_printenv scans them)', async (t) => {
  const c = (line: string) => parseUbootConfig(line, 'x.cfg').copies[0];
  t.equal(c('/d 256 0x100').offset, 256);
  t.equal(c('/d 0x100 0x100').offset, 256);
  t.equal(c('/d 0400 0x100').offset, 256, 'leading 0 is octal');
  t.equal(c('/d 0 100').envSize, 0x100, 'bare digits are hex');
  t.equal(c('/d 0 0X1F000').envSize, 0x1f000);
});

t.test('relative device paths resolve against the working directory, not the config file', async (t) => {
  const cfg = parseUbootConfig('env.img 0 0x100\n', '/etc/fw_env.config', '/srv/work');
  t.equal(cfg.copies[0].device, '/srv/work/env.img');
});

const bad: [string, string, number, RegExp][] = [
  ['bad offset', '/d zz 0x100\n', 1, /offset 'zz' is not a number/],
  ['bad decimal-looking offset', '/d 08 0x100\n', 1, /offset '08'/],
  ['negative offset', '/d -0x100 0x100\n', 1, /negative/],
  ['bad size', '# c\n/d 0 0x1g0\n', 2, /envsize '0x1g0' is not a hexadecimal number/],
  ['bad sector size', '/d 0 0x100 big\n', 1, /sectorsize 'big'/],
  ['bad sector count', '/d 0 0x100 0x100 two\n', 1, /numsectors 'two'/],
  ['tiny size', '/d 0 6\n', 1, /too small/],
  ['missing fields', '/d 0\n', 1, /missing fields/],
  ['device only', '\n\n/d\n', 3, /missing fields/],
  ['too many fields', '/d 0 0x100 0x100 1 1\n', 1, /too many fields/],
  ['too many lines', '/a 0 0x100\n/b 0 0x100\n# third\n/c 0 0x100\n', 4, /too many environment lines/],
  ['sizes differ', '/a 0 0x100\n/b 0 0x200\n', 2, /differs from line 1/],
  ['copies overlap', '/a 0 0x100\n/a 0x80 0x100\n', 2, /overlaps line 1/],
  ['empty', '# nothing\n', 2, /no environment line/],
];
for (const [name, text, line, message] of bad) {
  t.test(`bad config: ${name}`, async (t) => {
    const err = t.throws(() => parseUbootConfig(text, '/etc/my.cfg')) as SalvorError;
    t.equal(err.code, 'SALVOR_BAD_INPUT');
    t.match(err.message, new RegExp(`^/etc/my\\.cfg:${line}: `));
    t.match(err.message, message);
    t.notMatch(err.message, /\n/, 'one line');
  });
}

t.test('a missing config file is ENOENT naming it', async (t) => {
  await t.rejects(readUbootConfig('/nonexistent/fw_env.config'), { code: 'ENOENT', path: '/nonexistent/fw_env.config' });
});

t.test('salvor and fw_printenv read the same env from the same config', async (t) => {
  const dir = t.testdir();
  const img = mkenvimage(dir, 'env.img', '0x100', ['a=1', 'b=two']);
  // bare "100" is 0x100 to fw_printenv too; "0400" is octal 256 (the image sits after 256 zero bytes)
  const cfg = writeConfig(dir, [`${img} 0 100`]);
  const env = await openStore(cfg, { writable: false });
  t.teardown(() => env.close());
  t.same(await storeVariables(env), fwPrintenv(cfg));
  t.same(Object.fromEntries(fwPrintenv(cfg)), { a: '1', b: 'two' });

  const shifted = join(dir, 'shifted.img');
  writeFileSync(shifted, Buffer.concat([Buffer.alloc(256), readFileSync(img)]));
  const octal = writeConfig(dir, [`${shifted} 0400 0x100`], 'octal.cfg');
  const env2 = await openStore(octal, { writable: false });
  t.teardown(() => env2.close());
  t.same(Object.fromEntries(fwPrintenv(octal)), { a: '1', b: 'two' });
  t.same(await storeVariables(env2), fwPrintenv(octal));
});

t.test('a config whose copy runs past the device end is bad input naming the line', async (t) => {
  const dir = t.testdir();
  const img = mkenvimage(dir, 'env.img', '0x100', ['a=1']);
  const cfg = writeConfig(dir, ['# too big', `${img} 0x80 0x100`]);
  await t.rejects(openStore(cfg), { code: 'SALVOR_BAD_INPUT', message: new RegExp(`${cfg}:2: .*runs past the end`) });
});
