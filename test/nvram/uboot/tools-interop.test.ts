import t from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  assertUbootTools,
  flagsAt,
  fwPrintenv,
  fwSetenv,
  mkenvimage,
  openStore,
  setFlags,
  storeVariables,
  writeConfig,
} from './uboot-tools';

t.test('U-Boot tools are installed', async (t) => assertUbootTools(t));

const initial = ['bootcmd=run distro_bootcmd', 'baudrate=115200', 'bootdelay=2'];

/** The three layouts: single copy; two copies in one file; two copies in two files. Returns config + where each copy's flags are. */
function layouts(dir: string) {
  const single = mkenvimage(dir, 'single.img', '0x400', initial);
  const red = readFileSync(mkenvimage(dir, 'red.img', '0x400', initial, true));
  const oneFile = join(dir, 'pair.img');
  writeFileSync(oneFile, Buffer.concat([red, Buffer.alloc(0x400, 0xff), red])); // copies at 0 and 0x800
  const fileA = join(dir, 'a.img');
  const fileB = join(dir, 'b.img');
  writeFileSync(fileA, red);
  writeFileSync(fileB, red);
  return {
    single: { cfg: writeConfig(dir, [`${single} 0x0 0x400`], 'single.cfg'), copies: [] as [string, number][] },
    'one file': {
      cfg: writeConfig(dir, [`${oneFile} 0x0 0x400`, `${oneFile} 0x800 0x400`], 'pair.cfg'),
      copies: [[oneFile, 0], [oneFile, 0x800]] as [string, number][],
    },
    'two files': {
      cfg: writeConfig(dir, [`${fileA} 0 0x400`, `${fileB} 0 0x400`], 'two.cfg'),
      copies: [[fileA, 0], [fileB, 0]] as [string, number][],
    },
  };
}

for (const kind of ['single', 'one file', 'two files'] as const) {
  t.test(`${kind}: salvor and the U-Boot tools read each other's writes`, async (t) => {
    const { cfg, copies } = layouts(t.testdir())[kind];
    const redundant = copies.length === 2;
    const env = await openStore(cfg);
    t.teardown(() => env.close());

    t.same(await env.get('baudrate'), { type: 'string', value: '115200' }, 'reads what mkenvimage made');
    t.same(await storeVariables(env), fwPrintenv(cfg));
    if (redundant) t.match(await env.check(), { clean: true, active: 0, serials: [1, 1], headers: { primary: 'ok', copy: 'ok' } });
    else t.match(await env.check(), { clean: true, active: 0, serials: [], headers: { primary: 'ok', copy: 'absent' } });

    fwSetenv(cfg, 'bootdelay', '5');
    t.same(await env.get('bootdelay'), { type: 'string', value: '5' }, 'sees fw_setenv edit');
    if (redundant) {
      t.equal(flagsAt(...copies[1]), 2, 'fw_setenv wrote copy 1 with active + 1');
      t.match(await env.check(), { active: 1, serials: [1, 2] });
    }

    await env.set('serverip', { type: 'string', value: '192.168.1.10' });
    if (redundant) t.same([flagsAt(...copies[0]), flagsAt(...copies[1])], [3, 2], 'salvor wrote the inactive copy 0 with 2 + 1');
    await env.set('count', { type: 'int', value: 42n });
    if (redundant) t.same([flagsAt(...copies[0]), flagsAt(...copies[1])], [3, 4], 'then copy 1 with 4');
    await env.set('spaced', { type: 'string', value: 'a b;c=d' });
    t.same(await env.get('count'), { type: 'string', value: '42' });
    const fromTools = fwPrintenv(cfg);
    t.equal(fromTools.get('serverip'), '192.168.1.10');
    t.equal(fromTools.get('count'), '42');
    t.equal(fromTools.get('spaced'), 'a b;c=d');
    t.equal(fromTools.get('bootdelay'), '5');
    t.same(await storeVariables(env), fromTools);
    if (redundant) t.match(await env.check(), { active: 0, serials: [5, 4], clean: true });

    t.equal(await env.unset('bootdelay'), true);
    t.equal(await env.unset('bootdelay'), false, 'absent key: nothing written');
    t.notOk(fwPrintenv(cfg).has('bootdelay'));
    t.same(await storeVariables(env), fwPrintenv(cfg));

    fwSetenv(cfg, 'count');
    t.equal(await env.get('count'), undefined, 'sees fw_setenv delete');
    fwSetenv(cfg, 'after', 'salvor');
    t.same(await storeVariables(env), fwPrintenv(cfg));
  });
}

t.test('values round-trip exactly: UTF-8, empty, long', async (t) => {
  const { cfg } = layouts(t.testdir())['one file'];
  const env = await openStore(cfg);
  t.teardown(() => env.close());
  const long = 'x'.repeat(600);
  await env.set('utf8', { type: 'string', value: 'héllo ✓' });
  await env.set('empty', { type: 'string', value: '' });
  await env.set('long', { type: 'string', value: long });
  const tools = fwPrintenv(cfg);
  t.equal(tools.get('utf8'), 'héllo ✓');
  t.equal(tools.get('empty'), '');
  t.equal(tools.get('long'), long);
  t.same(await env.get('empty'), { type: 'string', value: '' });
});

t.test('serial wrap-around: 255 -> 0, by salvor and by fw_setenv', async (t) => {
  const { cfg, copies } = layouts(t.testdir())['two files'];
  setFlags(...copies[0], 254);
  setFlags(...copies[1], 255);
  const env = await openStore(cfg);
  t.teardown(() => env.close());
  t.match(await env.check(), { active: 1, serials: [254, 255] });

  await env.set('step', { type: 'string', value: 'salvor' });
  t.equal(flagsAt(...copies[0]), 0, 'salvor wrote the inactive copy with 255 + 1 = 0');
  t.match(await env.check(), { active: 0, serials: [0, 255] });
  t.equal(fwPrintenv(cfg).get('step'), 'salvor', 'fw_printenv also takes 0 over 255');

  // the other way round: fw_setenv wraps, salvor follows
  setFlags(...copies[0], 255);
  setFlags(...copies[1], 254);
  t.match(await env.check(), { active: 0, serials: [255, 254] });
  fwSetenv(cfg, 'step', 'tools');
  t.equal(flagsAt(...copies[1]), 0);
  t.match(await env.check(), { active: 1, serials: [255, 0] });
  t.same(await env.get('step'), { type: 'string', value: 'tools' });
});

t.test('equal serials pick copy 0, as fw_printenv does', async (t) => {
  const dir = t.testdir();
  const a = readFileSync(mkenvimage(dir, 'a.img', '0x100', ['who=first'], true));
  const b = readFileSync(mkenvimage(dir, 'b.img', '0x100', ['who=second'], true));
  const pair = join(dir, 'pair.img');
  writeFileSync(pair, Buffer.concat([a, b]));
  const cfg = writeConfig(dir, [`${pair} 0 0x100`, `${pair} 0x100 0x100`]);
  const env = await openStore(cfg, { writable: false });
  t.teardown(() => env.close());
  t.same(await env.get('who'), { type: 'string', value: 'first' });
  t.equal(fwPrintenv(cfg).get('who'), 'first');
  setFlags(pair, 0x100, 2);
  t.same(await env.get('who'), { type: 'string', value: 'second' });
  t.equal(fwPrintenv(cfg).get('who'), 'second');
});
