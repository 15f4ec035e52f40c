import t from 'tap';
import { chmodSync, cpSync, existsSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { crc32c } from '@node-rs/crc32';
import type { Test } from 'tap';
import { assertFails, checkNoHandleLeft, flipByte, listValues, patchFile, readBytes, seededBytes, workspace, writeJson } from './helpers';

// A table of damaged images: what check reports (exit and JSON), what recover does (exit and JSON),
// and the values a reader sees afterwards. Every case starts from the same image, built once:
// 8 KiB, 256-byte sectors (sector 0 header, 1 copy, 2 journal record, 3 stamps, data 4..17, spare 18..31),
// defaults recorded at format, then keys written since. The CLI runs in this process (runCli, as
// the binary does); only the run as another user needs a process of its own.

checkNoHandleLeft(t);

const B = 256;
const DATA = 4;
const SPARE = 18;
const PAYLOAD = B - 8;
const DEFAULTS = { count: 7, mac: { hex: '02005a1f0001' }, name: 'box', zone: 'default-zone' };
const PADS = Array.from({ length: 10 }, (_, i) => [`a-pad-0${i}`, `${'p'.repeat(30)}${i}`] as const);
const WRITTEN: Record<string, unknown> = { ...DEFAULTS, name: 'changed-name', zone: 'changed-zone', ...Object.fromEntries(PADS) };

const ws = workspace(t);
const img = ws.path('nv.img');
const defaultsFile = writeJson(ws.path('defaults.json'), DEFAULTS);
const template = ws.path('template-state');
let base: Buffer;

t.before(async () => {
  const steps = [
    ['nvram', 'format', '--device', img, '--size', '8K', '--sector-size', String(B), '--defaults', defaultsFile],
    ['nvram', 'set', '--device', img, 'name', 'changed-name'],
    ['nvram', 'set', '--device', img, 'zone', 'changed-zone'],
    ...PADS.map(([k, v]) => ['nvram', 'set', '--device', img, k, v]),
  ];
  for (const args of steps) {
    const r = await ws.run(args);
    if (r.code !== 0) throw new Error(`setting up the image: salvor ${args.join(' ')}: ${r.stderr}`);
  }
  base = readBytes(img);
  cpSync(ws.stateDir, template, { recursive: true });
});

/** Puts the base image and its recorded state back before each case. */
async function fresh(): Promise<void> {
  writeFileSync(img, base);
  rmSync(ws.stateDir, { recursive: true, force: true });
  cpSync(template, ws.stateDir, { recursive: true });
}

/** Where each entry of the store sits in the blob spread over the data payloads (docs/formats/nvram.md). */
function entrySectors(values: Record<string, unknown>): Map<string, number[]> {
  const size = (v: unknown) =>
    typeof v === 'string' ? Buffer.byteLength(v) : typeof v === 'number' ? 8 : (v as { hex: string }).hex.length / 2;
  const spans = new Map<string, number[]>();
  let at = 8;
  for (const key of Object.keys(values).sort()) {
    const end = at + 12 + Buffer.byteLength(key) + size(values[key]) + 4;
    const sectors = [];
    for (let s = Math.floor(at / PAYLOAD); s <= Math.floor((end - 1) / PAYLOAD); s++) sectors.push(s);
    spans.set(key, sectors);
    at = end;
  }
  return spans;
}

function setHeaderVersion(file: string, version: number): void {
  const bytes = readBytes(file);
  for (const s of [0, 1]) {
    const h = bytes.subarray(s * B, (s + 1) * B);
    h.writeUInt16LE(version, 8);
    h.writeUInt32LE(crc32c(h.subarray(0, B - 4)), B - 4);
  }
  writeFileSync(file, bytes);
}

function backups(): string[] {
  const dir = join(ws.stateDir, 'nvram', 'backups');
  return existsSync(dir) ? readdirSync(dir).map((f) => join(dir, f)) : [];
}

interface Outcome {
  code: number;
  json?: Record<string, unknown>;
}
interface Case {
  name: string;
  corrupt(): void | Promise<void>;
  /** Extra options for check and recover (--sector-size, --defaults). */
  hints?: string[];
  check: Outcome;
  recover: Outcome;
  /** What list shows after recover. */
  after: Record<string, unknown>;
  also?(t: Test, damaged: Buffer): void;
}

const unchanged = WRITTEN;
const onlyDefaults = DEFAULTS;
const nameSectors = entrySectors(WRITTEN).get('name')!;
const lostSector = nameSectors[0]!;

const cases: Case[] = [
  {
    name: 'a flipped byte in a data sector: restored from its spare',
    corrupt: () => flipByte(img, (DATA + 1) * B + 17),
    check: { code: 4, json: { header: 'ok', headers: { primary: 'ok', copy: 'ok' }, badSectors: [{ sector: DATA + 1, source: 'spare' }], clean: false } },
    recover: { code: 1, json: { recovered: [{ sector: DATA + 1, source: 'spare' }], uncorrected: [], clean: true } },
    after: unchanged,
  },
  {
    name: 'a flipped byte in a spare sector: restored from its data sector',
    corrupt: () => flipByte(img, (SPARE + 1) * B + 17),
    check: { code: 4, json: { header: 'ok', badSectors: [{ sector: SPARE + 1, source: 'data' }], clean: false } },
    recover: { code: 1, json: { recovered: [{ sector: SPARE + 1, source: 'data' }], uncorrected: [], clean: true } },
    after: unchanged,
  },
  {
    name: 'a wrong index in a data sector trailer (a misplaced write) counts as bad',
    corrupt: () => {
      const s = Buffer.from(base.subarray((DATA + 2) * B, (DATA + 3) * B));
      s.writeUInt32LE(3, B - 8);
      s.writeUInt32LE(crc32c(s.subarray(0, B - 4)), B - 4);
      patchFile(img, (DATA + 2) * B, s);
    },
    check: { code: 4, json: { badSectors: [{ sector: DATA + 2, source: 'spare' }] } },
    recover: { code: 1, json: { recovered: [{ sector: DATA + 2, source: 'spare' }], clean: true } },
    after: unchanged,
  },
  {
    name: 'a data sector and its spare both damaged: defaults for keys that lived there, other keys kept',
    corrupt: () => {
      flipByte(img, (DATA + lostSector) * B + 40);
      flipByte(img, (SPARE + lostSector) * B + 40);
    },
    check: {
      code: 4,
      json: {
        header: 'ok',
        badSectors: [
          { sector: DATA + lostSector, source: 'defaults' },
          { sector: SPARE + lostSector, source: 'defaults' },
        ],
        clean: false,
      },
    },
    recover: {
      code: 1,
      json: {
        recovered: [
          { sector: DATA + lostSector, source: 'defaults' },
          { sector: SPARE + lostSector, source: 'defaults' },
        ],
        uncorrected: [],
        defaultsFrom: 'state',
        clean: true,
      },
    },
    after: (() => {
      const spans = entrySectors(WRITTEN);
      const kept = Object.entries(WRITTEN).filter(([k]) => !spans.get(k)!.includes(lostSector));
      const lostDefaults = Object.entries(DEFAULTS).filter(([k]) => spans.get(k)!.includes(lostSector));
      return Object.fromEntries([...kept, ...lostDefaults]);
    })(),
    also: (t) => {
      t.ok(lostSector >= 1, 'the damaged sector is not the first (the store header is intact)');
      const spans = entrySectors(WRITTEN);
      const restored = Object.keys(DEFAULTS).filter((k) => spans.get(k)!.includes(lostSector));
      t.ok(restored.includes('name'), 'a key changed since format lived in the damaged sector');
      t.ok(PADS.some(([k]) => spans.get(k)!.includes(lostSector)), 'so did a key without a default');
      t.ok(PADS.some(([k]) => !spans.get(k)!.includes(lostSector)), 'and other keys lived elsewhere');
    },
  },
  {
    name: 'the primary header damaged: rewritten from the copy',
    corrupt: () => flipByte(img, 20),
    check: {
      code: 4,
      json: { header: 'recovered-from-copy', headers: { primary: 'bad', copy: 'ok' }, badSectors: [{ sector: 0, source: 'header-copy' }], generation: '1' },
    },
    recover: { code: 1, json: { header: 'recovered-from-copy', recovered: [{ sector: 0, source: 'header-copy' }], clean: true } },
    after: unchanged,
  },
  {
    name: 'the header copy damaged: rewritten from the primary',
    corrupt: () => flipByte(img, B + 20),
    check: { code: 4, json: { header: 'recovered-from-copy', headers: { primary: 'ok', copy: 'bad' }, badSectors: [{ sector: 1, source: 'header-copy' }] } },
    recover: { code: 1, json: { header: 'recovered-from-copy', recovered: [{ sector: 1, source: 'header-copy' }], clean: true } },
    after: unchanged,
  },
  {
    name: 'both headers damaged, geometry recorded: rebuilt from the recorded geometry, every key kept',
    corrupt: () => {
      flipByte(img, 20);
      flipByte(img, B + 20);
    },
    check: {
      code: 4,
      json: {
        header: 'rebuilt-from-geometry',
        geometryFrom: 'state',
        headers: { primary: 'bad', copy: 'bad' },
        badSectors: [
          { sector: 0, source: 'geometry' },
          { sector: 1, source: 'geometry' },
        ],
      },
    },
    recover: {
      code: 1,
      json: {
        header: 'rebuilt-from-geometry',
        clean: true,
        recovered: [
          { sector: 0, source: 'geometry' },
          { sector: 1, source: 'geometry' },
        ],
        recoveredKeys: Object.keys(WRITTEN).sort(),
        restoredKeys: [],
        lostKeys: [],
      },
    },
    after: unchanged,
    also: (t) => t.same(backups(), [], 'nothing was discarded, so no backup was needed'),
  },
  {
    name: 'both headers damaged, state deleted, with --sector-size and --defaults: rebuilt, every key kept',
    corrupt: () => {
      flipByte(img, 20);
      flipByte(img, B + 20);
      rmSync(ws.stateDir, { recursive: true, force: true });
    },
    hints: ['--sector-size', String(B), '--defaults', defaultsFile],
    check: { code: 4, json: { header: 'rebuilt-from-geometry', geometryFrom: 'options', headers: { primary: 'bad', copy: 'bad' } } },
    recover: { code: 1, json: { header: 'rebuilt-from-geometry', defaultsFrom: 'file', clean: true, lostKeys: [] } },
    after: unchanged,
  },
  {
    name: 'both header CRCs broken, state deleted: the geometry the damaged headers still state',
    corrupt: () => {
      flipByte(img, 100);
      flipByte(img, B + 100);
      rmSync(ws.stateDir, { recursive: true, force: true });
    },
    check: { code: 4, json: { header: 'rebuilt-from-geometry', geometryFrom: 'header-fields' } },
    recover: { code: 1, json: { header: 'rebuilt-from-geometry', generation: '1', clean: true, recoveredKeys: Object.keys(WRITTEN).sort() } },
    after: unchanged,
  },
  {
    name: 'both headers wrecked, state deleted: the geometry found by a scan of the sectors',
    corrupt: () => {
      patchFile(img, 8, seededBytes(B - 8, 5));
      patchFile(img, B + 8, seededBytes(B - 8, 6));
      rmSync(ws.stateDir, { recursive: true, force: true });
    },
    check: { code: 4, json: { header: 'rebuilt-from-geometry', geometryFrom: 'scan', geometry: { size: 8192, sectorSize: B } } },
    recover: { code: 1, json: { header: 'rebuilt-from-geometry', clean: true, recoveredKeys: Object.keys(WRITTEN).sort() } },
    after: unchanged,
  },
  {
    name: 'both headers and every data and spare sector lost, geometry recorded: rebuilt from defaults, the damaged image kept',
    corrupt: () => {
      flipByte(img, 20);
      flipByte(img, B + 20);
      patchFile(img, DATA * B, Buffer.alloc((SPARE - DATA) * 2 * B));
    },
    check: { code: 4, json: { header: 'rebuilt-from-defaults', badSectors: [{ sector: 0, source: 'defaults' }, { sector: 1, source: 'defaults' }] } },
    recover: {
      code: 1,
      json: {
        header: 'rebuilt-from-defaults',
        defaultsFrom: 'state',
        clean: true,
        restoredKeys: Object.keys(DEFAULTS).sort(),
        recovered: [0, 1, ...Array.from({ length: 28 }, (_, i) => DATA + i)].map((sector) => ({ sector, source: 'defaults' })),
      },
    },
    after: onlyDefaults,
    also: (t, damaged) => {
      const kept = backups();
      t.equal(kept.length, 1, 'one backup under $SALVOR_STATE_DIR/nvram/backups');
      if (kept[0]) t.same(readBytes(kept[0]), damaged, 'holding the damaged image');
    },
  },
  {
    name: 'a torn journal record (cut while writing it): nothing to settle, the old store stands',
    corrupt: async () => {
      const r = await ws.run(['nvram', 'set', '--device', img, 'zone', 'next-zone']);
      if (r.code !== 0) throw new Error(r.stderr);
      const newRecord = readBytes(img).subarray(2 * B, 2 * B + 100);
      writeFileSync(img, base);
      patchFile(img, 2 * B, Buffer.from(newRecord));
    },
    check: { code: 0, json: { header: 'ok', badSectors: [], journal: 'clean', clean: true } },
    recover: { code: 0, json: { recovered: [], clean: true } },
    after: unchanged,
  },
  {
    name: 'garbage over the journal stamps: the last write is settled again, values kept',
    corrupt: () => patchFile(img, 3 * B, seededBytes(B, 3)),
    check: { code: 4, json: { header: 'ok', badSectors: [], journal: /^roll-(forward|back)$/, clean: false } },
    recover: { code: 1, json: { journal: /^rolled-(forward|back)$/, recovered: [], clean: true } },
    after: unchanged,
  },
];

for (const c of cases) {
  t.test(c.name, async (t) => {
    await fresh();
    await c.corrupt();
    const damaged = readBytes(img);
    const hints = c.hints ?? [];
    const check = await ws.run(['nvram', 'check', '--device', img, '--json', ...hints]);
    t.equal(check.code, c.check.code, `check exits ${c.check.code} (${check.stderr.trim()})`);
    t.match(check.json(), { format: 'salvor', device: img, ...c.check.json });
    t.same(readBytes(img), damaged, 'check wrote nothing');
    const recover = await ws.run(['nvram', 'recover', '--device', img, '--json', ...hints]);
    t.equal(recover.code, c.recover.code, `recover exits ${c.recover.code} (${recover.stderr.trim()})`);
    t.match(recover.json(), { format: 'salvor', device: img, ...c.recover.json });
    if (c.recover.json?.recovered) t.same(recover.json().recovered, c.recover.json.recovered, 'exactly these sectors recovered');
    t.same(await listValues(ws, img), c.after, 'the values a reader sees afterwards');
    c.also?.(t, damaged);
    const again = await ws.run(['nvram', 'recover', '--device', img, '--json']);
    t.equal(again.code, 0, 'a second recover has nothing to do');
    t.same(again.json().recovered, []);
    t.equal((await ws.run(['nvram', 'check', '--device', img])).code, 0, 'check is clean');
  });
}

t.test('both headers damaged, no sector survives and no geometry anywhere: unrecoverable, nothing written', async (t) => {
  await fresh();
  flipByte(img, 20);
  flipByte(img, B + 20);
  patchFile(img, DATA * B, Buffer.alloc((SPARE - DATA) * 2 * B));
  rmSync(ws.stateDir, { recursive: true, force: true });
  const damaged = readBytes(img);
  const lost = [
    { sector: 0, source: 'none' },
    { sector: 1, source: 'none' },
  ];
  const check = await ws.run(['nvram', 'check', '--device', img, '--json']);
  t.equal(check.code, 4);
  t.match(check.json(), { header: 'unrecoverable', headers: { primary: 'bad', copy: 'bad' }, badSectors: lost, clean: false, reason: /--sector-size/ });
  const recover = await ws.run(['nvram', 'recover', '--device', img, '--json']);
  t.equal(recover.code, 4);
  t.match(recover.json(), { header: 'unrecoverable', recovered: [], uncorrected: lost, clean: false });
  t.equal((await ws.run(['nvram', 'recover', '--device', img])).code, 4, 'also without --json');
  t.same(readBytes(img), damaged, 'the file is unchanged');
  t.same(backups(), [], 'and no backup was needed');
});

/** Bad input: both verbs exit 16 with one line naming the problem, and change nothing. */
async function refused(t: Test, device: string, mentions: RegExp[]): Promise<void> {
  const before = existsSync(device) ? readBytes(device) : undefined;
  for (const verb of ['check', 'recover']) {
    assertFails(t, await ws.run(['nvram', verb, '--device', device]), 16, mentions);
    assertFails(t, await ws.run(['nvram', verb, '--device', device, '--json']), 16, mentions);
  }
  assertFails(t, await ws.run(['nvram', 'set', '--device', device, 'k', 'v']), 16, mentions);
  if (before) t.same(readBytes(device), before, 'the file is unchanged');
  else t.notOk(existsSync(device), 'no file was created');
}

t.test('an all-zero file is not a salvor NVRAM', async (t) => {
  const zero = ws.path('zero.img');
  writeFileSync(zero, Buffer.alloc(8192));
  await refused(t, zero, [/zero\.img/, /not a salvor NVRAM/]);
});

t.test('a file of random bytes is not a salvor NVRAM', async (t) => {
  const noise = ws.path('noise.img');
  writeFileSync(noise, seededBytes(16384, 42));
  await refused(t, noise, [/noise\.img/, /not a salvor NVRAM/]);
});

t.test('a truncated image is refused, and says so', async (t) => {
  const cut = ws.path('cut.img');
  writeFileSync(cut, base.subarray(0, 6000));
  await refused(t, cut, [/cut\.img/, /truncated/]);
  writeFileSync(cut, base.subarray(0, 3000));
  await refused(t, cut, [/cut\.img/, /truncated/]);
});

t.test('a header of layout version 2 with a valid CRC is refused, not repaired', async (t) => {
  await fresh();
  setHeaderVersion(img, 2);
  await refused(t, img, [/version 2/]);
});

t.test('--sector-size that disagrees with the header is refused', async (t) => {
  await fresh();
  for (const verb of ['check', 'recover']) assertFails(t, await ws.run(['nvram', verb, '--device', img, '--sector-size', '512']), 16, [/512/]);
  t.same(readBytes(img), base, 'the file is unchanged');
});

t.test('a value too big for the store is refused and nothing changes', async (t) => {
  await fresh();
  assertFails(t, await ws.run(['nvram', 'set', '--device', img, 'huge', 'x'.repeat(4000)]), 16, [/bytes/]);
  assertFails(t, await ws.run(['nvram', 'set', '--device', img, 'huge', 'ab'.repeat(4000), '--type', 'bytes', '--json']), 16, [/bytes/]);
  t.same(readBytes(img), base, 'the file is unchanged');
  t.same(await listValues(ws, img), WRITTEN);
});

t.test('a device that does not exist', async (t) => {
  const missing = ws.path('missing.img');
  await refused(t, missing, [/missing\.img/]);
  assertFails(t, await ws.run(['nvram', 'list', '--device', missing]), 16, [/missing\.img/]);
});

t.test('a device the user cannot read', async (t) => {
  await fresh();
  chmodSync(img, 0o600);
  t.teardown(() => chmodSync(img, 0o644));
  for (const args of [['check'], ['recover'], ['get', 'name'], ['set', 'k', 'v']]) {
    const r = await ws.run(['nvram', args[0]!, '--device', img, ...args.slice(1)], { asNobody: true });
    t.ok(r.code === 8 || r.code === 16, `${args[0]} as nobody exits 8 or 16 (got ${r.code}: ${r.stderr.trim()})`);
    t.match(r.stderr, img, 'the message names the device');
    t.equal(r.stderr.trim().split('\n').length, 1, 'in one line');
  }
  t.same(readBytes(img), base, 'the file is unchanged');
});
