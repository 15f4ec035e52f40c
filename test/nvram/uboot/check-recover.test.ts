import t from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  assertUbootTools,
  flagsAt,
  flipBytes,
  fwPrintenv,
  fwPrintenvRaw,
  fwSetenv,
  mkenvimage,
  openStore,
  storeVariables,
  writeConfig,
} from './uboot-tools';

t.test('U-Boot tools are installed', async (t) => assertUbootTools(t));

const initial = ['bootcmd=boot', 'ipaddr=10.0.0.2', 'mode=normal'];
const defaults = { bootcmd: 'run recovery', mode: 'factory' };

/** A redundant env, both copies in one file at 0 and 0x1000; fw_setenv has made copy 1 active (serial 2). */
function redundantPair(dir: string) {
  const red = readFileSync(mkenvimage(dir, 'red.img', '0x200', initial, true));
  const img = join(dir, 'pair.img');
  writeFileSync(img, Buffer.concat([red, Buffer.alloc(0x1000 - 0x200, 0xff), red]));
  const cfg = writeConfig(dir, [`${img} 0 0x200`, `${img} 0x1000 0x200`]);
  fwSetenv(cfg, 'mode', 'updated');
  return { img, cfg, at: [0, 0x1000] };
}

t.test('the older copy is bad: check reports it, recover rewrites it from the active one', async (t) => {
  const { img, cfg, at } = redundantPair(t.testdir());
  flipBytes(img, at[0] + 20);
  const env = await openStore(cfg);
  t.teardown(() => env.close());
  const found = await env.check();
  t.match(found, {
    format: 'uboot',
    device: img,
    header: 'recovered-from-copy',
    headers: { primary: 'bad', copy: 'ok' },
    badSectors: [{ sector: 0, source: 'redundant-copy' }],
    clean: false,
    active: 1,
    serials: [null, 2],
  });
  const before = fwPrintenv(cfg);
  const done = await env.recover();
  t.same(done.recovered, [{ sector: 0, source: 'redundant-copy' }]);
  t.same(done.uncorrected, []);
  t.match(done, { header: 'recovered-from-copy', clean: false }, 'the report describes what was found');
  t.match(await env.check(), { clean: true, header: 'ok', badSectors: [], active: 1, serials: [1, 2] });
  t.equal(flagsAt(img, at[0]), 1, 'rewritten copy loses to the good one (2 - 1)');
  t.same(fwPrintenv(cfg), before, 'fw_printenv still reads the same environment');
  t.equal(fwPrintenv(cfg).get('mode'), 'updated');
  fwSetenv(cfg, 'mode', 'next');
  t.equal(flagsAt(img, at[0]), 3, 'the next fw_setenv writes the recovered copy with 3');
  t.same(await env.get('mode'), { type: 'string', value: 'next' });
});

t.test('the newer copy is bad: the older one becomes active and stays so after recover', async (t) => {
  const { img, cfg, at } = redundantPair(t.testdir());
  flipBytes(img, at[1] + 8);
  const env = await openStore(cfg);
  t.teardown(() => env.close());
  t.match(await env.check(), {
    header: 'recovered-from-copy',
    headers: { primary: 'ok', copy: 'bad' },
    badSectors: [{ sector: 1, source: 'redundant-copy' }],
    active: 0,
    serials: [1, null],
  });
  t.same(await env.get('mode'), { type: 'string', value: 'normal' }, 'the older contents');
  t.equal(fwPrintenv(cfg).get('mode'), 'normal', 'fw_printenv picks the same copy');
  const done = await env.recover();
  t.same(done.recovered, [{ sector: 1, source: 'redundant-copy' }]);
  t.equal(flagsAt(img, at[1]), 0);
  t.match(await env.check(), { clean: true, active: 0, serials: [1, 0] });
  t.same(readFileSync(img).subarray(at[1] + 5, at[1] + 0x200), readFileSync(img).subarray(5, 0x200), 'data copied verbatim');
  t.same(await storeVariables(env), fwPrintenv(cfg));
});

t.test('a bad copy with serial 0 active: the rewritten copy gets 255 and loses by the wrap rule', async (t) => {
  const dir = t.testdir();
  const a = mkenvimage(dir, 'a.img', '0x100', ['v=a'], true);
  const b = mkenvimage(dir, 'b.img', '0x100', ['v=b'], true);
  const cfg = writeConfig(dir, [`${a} 0 0x100`, `${b} 0 0x100`]);
  const bytes = readFileSync(b);
  bytes[4] = 0;
  writeFileSync(b, bytes);
  flipBytes(a, 10);
  const env = await openStore(cfg);
  t.teardown(() => env.close());
  await env.recover();
  t.equal(flagsAt(a, 0), 255);
  t.match(await env.check(), { clean: true, active: 1, serials: [255, 0] });
  t.equal(fwPrintenv(cfg).get('v'), 'b');
});

t.test('both copies bad, no defaults: unrecoverable, nothing written, reads refuse', async (t) => {
  const { img, cfg, at } = redundantPair(t.testdir());
  flipBytes(img, at[0] + 30);
  flipBytes(img, at[1] + 30);
  const bytes = readFileSync(img);
  const env = await openStore(cfg);
  t.teardown(() => env.close());
  t.match(await env.check(), {
    header: 'unrecoverable',
    headers: { primary: 'bad', copy: 'bad' },
    badSectors: [
      { sector: 0, source: 'none' },
      { sector: 1, source: 'none' },
    ],
    clean: false,
    active: null,
  });
  const done = await env.recover();
  t.same(done.recovered, []);
  t.same(done.uncorrected, [
    { sector: 0, source: 'none' },
    { sector: 1, source: 'none' },
  ]);
  t.same(readFileSync(img), bytes, 'device unchanged');
  const corrupt = { code: 'SALVOR_CORRUPT', message: new RegExp(`${img}.*salvor nvram recover`) };
  await t.rejects(env.get('mode'), corrupt);
  await t.rejects(env.list(), corrupt);
  await t.rejects(env.set('mode', { type: 'string', value: 'x' }), corrupt);
  await t.rejects(env.unset('mode'), corrupt);
  t.same(readFileSync(img), bytes, 'device still unchanged');
  t.notOk(fwPrintenvRaw(cfg).stdout.includes('mode='), 'fw_printenv finds no environment either');
});

t.test('both copies bad, with defaults: rebuilt from defaults, fw_printenv reads them', async (t) => {
  const dir = t.testdir();
  const a = mkenvimage(dir, 'a.img', '0x200', initial, true);
  const b = mkenvimage(dir, 'b.img', '0x200', initial, true);
  const cfg = writeConfig(dir, [`${a} 0 0x200`, `${b} 0 0x200`]);
  flipBytes(a, 100);
  flipBytes(b, 100);
  const env = await openStore(cfg, { defaults });
  t.teardown(() => env.close());
  t.match(await env.check(), {
    header: 'rebuilt-from-defaults',
    badSectors: [
      { sector: 0, source: 'defaults' },
      { sector: 1, source: 'defaults' },
    ],
  });
  const done = await env.recover();
  t.same(done.recovered, [
    { sector: 0, source: 'defaults' },
    { sector: 1, source: 'defaults' },
  ]);
  t.same(done.uncorrected, []);
  t.match(await env.check(), { clean: true, header: 'ok', active: 0, serials: [1, 0] });
  t.same(Object.fromEntries(fwPrintenv(cfg)), defaults);
  t.same(Object.fromEntries(await storeVariables(env)), defaults);
});

t.test('single copy: bad without defaults is unrecoverable, with defaults it is rebuilt', async (t) => {
  const dir = t.testdir();
  const img = mkenvimage(dir, 'env.img', '0x100', initial);
  const cfg = writeConfig(dir, [`${img} 0 0x100`]);
  flipBytes(img, 0);
  const bare = await openStore(cfg);
  t.teardown(() => bare.close());
  t.match(await bare.check(), {
    header: 'unrecoverable',
    headers: { primary: 'bad', copy: 'absent' },
    badSectors: [{ sector: 0, source: 'none' }],
    active: null,
  });
  t.match(await bare.recover(), { recovered: [], uncorrected: [{ sector: 0, source: 'none' }] });
  await bare.close();

  const env = await openStore(cfg, { defaults });
  t.teardown(() => env.close());
  t.match(await env.check(), { header: 'rebuilt-from-defaults', badSectors: [{ sector: 0, source: 'defaults' }] });
  t.match(await env.recover(), { recovered: [{ sector: 0, source: 'defaults' }], uncorrected: [] });
  t.match(await env.check(), { clean: true, header: 'ok', active: 0 });
  t.same(Object.fromEntries(fwPrintenv(cfg)), defaults);
});

t.test('recover on a clean env changes nothing', async (t) => {
  const { img, cfg } = redundantPair(t.testdir());
  const bytes = readFileSync(img);
  const env = await openStore(cfg, { defaults });
  t.teardown(() => env.close());
  const done = await env.recover();
  t.match(done, { header: 'ok', clean: true, badSectors: [], recovered: [], uncorrected: [] });
  t.same(readFileSync(img), bytes);
});
