import t from 'tap';
import { readFileSync } from 'node:fs';
import {
  activeCopy,
  decodeEnvCopy,
  encodeEnvCopy,
  envDataLength,
  newerCopy,
  nextSerial,
  olderSerial,
  parseEnvData,
  sortedVariables,
  type EnvVariables,
} from '../../../lib/nvram/uboot/env-image';
import { assertUbootTools, mkenvimage } from './uboot-tools';

const vars = (o: Record<string, string>): EnvVariables => new Map(Object.entries(o).map(([k, v]) => [k, Buffer.from(v, 'latin1')]));
const plain = (v: EnvVariables) => Object.fromEntries([...v].map(([k, b]) => [k, b.toString('latin1')]));

t.test('U-Boot tools are installed', async (t) => assertUbootTools(t));

t.test('encoding matches mkenvimage byte for byte (single and redundant)', async (t) => {
  const dir = t.testdir();
  const lines = ['arch=arm', 'baudrate=115200', 'bootcmd=run distro_bootcmd; reset', 'empty='];
  const v = new Map(lines.map((l) => [l.slice(0, l.indexOf('=')), Buffer.from(l.slice(l.indexOf('=') + 1))]));
  const single = readFileSync(mkenvimage(dir, 'single.img', '0x200', lines));
  t.same(encodeEnvCopy(v, 0x200, false, 0), single);
  const redundant = readFileSync(mkenvimage(dir, 'red.img', '0x200', lines, true));
  t.equal(redundant[4], 1, 'mkenvimage -r writes flags 1');
  t.same(encodeEnvCopy(v, 0x200, true, 1), redundant);
  t.equal(single[single.length - 1], 0xff, 'padding is 0xff');
  const empty = readFileSync(mkenvimage(dir, 'empty.img', '0x20', []));
  t.same(encodeEnvCopy(new Map(), 0x20, false, 0), empty);
});

t.test('decoding what mkenvimage made, in its order', async (t) => {
  const dir = t.testdir();
  const image = readFileSync(mkenvimage(dir, 'e.img', '0x100', ['z=last', 'a=first', 'eq=x=y'], true));
  const copy = decodeEnvCopy(image, true);
  t.ok(copy.valid);
  if (!copy.valid) return;
  t.equal(copy.serial, 1);
  t.same([...copy.variables.keys()], ['z', 'a', 'eq']);
  t.same(plain(copy.variables), { z: 'last', a: 'first', eq: 'x=y' });
  image[20] ^= 1;
  t.same(decodeEnvCopy(image, true), { valid: false, serial: undefined });
});

t.test('data parsing: stops at the empty entry, skips entries without =, last duplicate wins', async (t) => {
  const data = Buffer.concat([Buffer.from('a=1\0junk\0b=2\0a=3\0\0c=after-end\0'), Buffer.alloc(4, 0xff)]);
  t.same(plain(parseEnvData(data)), { b: '2', a: '3' });
  t.same(plain(parseEnvData(Buffer.from('x=unterminated'))), { x: 'unterminated' });
  t.same(plain(parseEnvData(Buffer.from('\0\0'))), {});
});

t.test('sizes and sorting', async (t) => {
  t.equal(envDataLength(new Map()), 1);
  t.equal(envDataLength(vars({ a: '1', bc: '' })), 'a=1\0bc=\0\0'.length);
  t.same([...sortedVariables(vars({ b: '', B: '', a: '', _: '' })).keys()], ['B', '_', 'a', 'b']);
});

t.test('active copy: higher serial wins, 0 beats 255, equal picks copy 0', async (t) => {
  const cases: [number, number, 0 | 1][] = [
    [1, 2, 1], [2, 1, 0], [5, 5, 0], [255, 0, 1], [0, 255, 0], [254, 0, 0], [0, 254, 1], [128, 0, 0], [0, 1, 1],
  ];
  for (const [s0, s1, want] of cases) t.equal(newerCopy(s0, s1), want, `${s0} vs ${s1}`);
  const ok = (serial: number) => ({ valid: true as const, serial, variables: new Map() });
  const bad = { valid: false as const, serial: undefined };
  t.equal(activeCopy([ok(9), bad]), 0);
  t.equal(activeCopy([bad, ok(0)]), 1);
  t.equal(activeCopy([bad, bad]), undefined);
  t.equal(activeCopy([ok(0)]), 0);
  t.equal(activeCopy([bad]), undefined);
  const all = [...Array(256).keys()];
  t.same(all.filter((s) => newerCopy(s, nextSerial(s)) !== 1), [], 'the next serial always wins');
  t.same(all.filter((s) => newerCopy(olderSerial(s), s) !== 1), [], 'the older serial always loses');
});
