import t from 'tap';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { assertFails, checkNoHandleLeft, listValues, readBytes, workspace, writeJson, type Workspace } from './helpers';

// `salvor nvram ...` end to end (docs/cli.md): the CLI runs in this process through runCli, as the
// shipping binary does (one test runs the binary itself); every run in its own temporary workspace
// with its own $SALVOR_STATE_DIR.

checkNoHandleLeft(t);

const { version } = JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string };
const INT64_MAX = '9223372036854775807';
const INT64_MIN = '-9223372036854775808';

function stateFiles(ws: Workspace): string[] {
  const dir = join(ws.stateDir, 'nvram');
  return existsSync(dir) ? readdirSync(dir).sort() : [];
}

async function formatted(ws: Workspace, name = 'nv.img', extra: string[] = []): Promise<string> {
  const img = ws.path(name);
  const r = await ws.run(['nvram', 'format', '--device', img, '--size', '8K', ...extra]);
  if (r.code !== 0) throw new Error(`format failed: ${r.stderr}`);
  return img;
}

t.test('--help on every level exits 0 and names the options', async (t) => {
  const ws = workspace(t);
  const top = await ws.run(['--help']);
  t.equal(top.code, 0);
  t.match(top.stdout, /Usage: salvor/);
  t.match(top.stdout, /nvram/);
  t.match(top.stdout, /--version/);
  t.match(top.stdout, /Exit codes/);
  const nvram = await ws.run(['nvram', '--help']);
  t.equal(nvram.code, 0);
  for (const verb of ['format', 'check', 'recover', 'get', 'set', 'unset', 'list']) t.match(nvram.stdout, verb, `nvram --help lists ${verb}`);
  const common = ['--device', '--uboot-config', '--lock-timeout', '--json', '--help'];
  const perVerb: Record<string, string[]> = {
    format: ['--size', '--sector-size', '--defaults', '--force'],
    check: ['--sector-size', '--defaults'],
    recover: ['--sector-size', '--defaults'],
    get: ['<key>'],
    set: ['--type', '<key>', '<value>', 'string', 'int', 'bytes'],
    unset: ['<key>'],
    list: [],
  };
  for (const [verb, own] of Object.entries(perVerb)) {
    const r = await ws.run(['nvram', verb, '--help']);
    t.equal(r.code, 0, `nvram ${verb} --help exits 0`);
    for (const option of [...common, ...own]) t.match(r.stdout, option, `nvram ${verb} --help mentions ${option}`);
  }
});

t.test('--version prints the package version (the shipping binary, in its own process)', async (t) => {
  const ws = workspace(t);
  for (const flag of ['--version', '-V']) {
    const r = await ws.spawn([flag]);
    t.equal(r.code, 0);
    t.equal(r.stdout.trim(), version);
  }
});

t.test('usage errors exit 16 with one line and touch nothing', async (t) => {
  const ws = workspace(t);
  const img = await formatted(ws);
  const before = readBytes(img);
  assertFails(t, await ws.run(['nvram', 'check', '--device', img, '--bogus']), 16, [/--bogus/]);
  assertFails(t, await ws.run(['nvram', 'frobnicate']), 16, [/frobnicate/]);
  assertFails(t, await ws.run(['nvram', 'check']), 16, [/--device/]);
  assertFails(t, await ws.run(['nvram', 'list', '--json']), 16, [/--device/]);
  assertFails(t, await ws.run(['nvram', 'set', 'k', 'v']), 16, [/--device/]);
  assertFails(t, await ws.run(['nvram', 'check', '--device', img, '--uboot-config', ws.path('fw_env.config')]), 16, [/--device/]);
  assertFails(t, await ws.run(['nvram', 'set', '--device', img, '--uboot-config', ws.path('fw_env.config'), 'k', 'v']), 16, [/--uboot-config/]);
  assertFails(t, await ws.run(['nvram', 'get', '--device', img]), 16, [/key/]);
  assertFails(t, await ws.run(['nvram', 'set', '--device', img, 'k']), 16, [/value/]);
  assertFails(t, await ws.run(['nvram', 'set', '--device', img, 'k', 'v', '--type', 'float']), 16, [/float/]);
  assertFails(t, await ws.run(['nvram', 'format', '--device', ws.path('other.img')]), 16, [/--size/]);
  t.same(readBytes(img), before, 'the image is unchanged');
  t.notOk(existsSync(ws.path('other.img')), 'no image was created');
});

t.test('format with the default sector size', async (t) => {
  const cases: [string, number, number][] = [
    ['4K', 4096, 256],
    ['32K', 32768, 256],
    ['64K', 65536, 4096],
    ['1M', 1048576, 4096],
  ];
  for (const [size, bytes, sectorSize] of cases) {
    const ws = workspace(t);
    const img = ws.path('nv.img');
    const r = await ws.run(['nvram', 'format', '--device', img, '--size', size, '--json']);
    t.equal(r.code, 0, `format --size ${size}`);
    const dataSectors = Math.floor((bytes / sectorSize - 4) / 2);
    t.match(r.json(), {
      device: img,
      geometry: { size: bytes, sectorSize, sectorCount: bytes / sectorSize, dataSectors, dataStart: 4, spareStart: 4 + dataSectors },
      generation: '1',
      defaults: 0,
      created: true,
      capacityBytes: dataSectors * (sectorSize - 8),
    });
    t.equal(readBytes(img).length, bytes, 'the image file has --size bytes');
    t.equal(stateFiles(ws).length, 1, 'one state file records the geometry');
    t.match((await ws.run(['nvram', 'check', '--device', img, '--json'])).json(), { clean: true, store: { entries: 0 } }, 'a fresh empty store checks clean');
  }
});

t.test('format with every explicit sector size, 256 B to 64 KiB', async (t) => {
  const cases: [number, string][] = [
    [256, '4K'],
    [512, '8K'],
    [1024, '16K'],
    [2048, '64K'],
    [4096, '256K'],
    [8192, '1M'],
    [16384, '2M'],
    [32768, '1M'],
    [65536, '4M'],
  ];
  const ws = workspace(t);
  for (const [sectorSize, size] of cases) {
    const img = ws.path(`nv-${sectorSize}.img`);
    const r = await ws.run(['nvram', 'format', '--device', img, '--size', size, '--sector-size', String(sectorSize), '--json']);
    t.equal(r.code, 0, `format --size ${size} --sector-size ${sectorSize}`);
    const geo = r.json().geometry;
    t.equal(geo.sectorSize, sectorSize);
    t.equal(geo.dataSectors, Math.floor((geo.size / sectorSize - 4) / 2));
    t.equal((await ws.run(['nvram', 'set', '--device', img, 'who', `sector-${sectorSize}`])).code, 0, 'set');
    t.match((await ws.run(['nvram', 'check', '--device', img, '--json'])).json(), { clean: true, geometry: { sectorSize }, store: { entries: 1 } }, 'check reads the geometry from the header');
  }
});

t.test('format refuses bad geometry and leaves nothing behind', async (t) => {
  const ws = workspace(t);
  const bad: [string[], RegExp][] = [
    [['--size', '4K', '--sector-size', '300'], /power of two/],
    [['--size', '4K', '--sector-size', '128'], /power of two/],
    [['--size', '1M', '--sector-size', '131072'], /power of two/],
    [['--size', '3K'], /outside/],
    [['--size', '512M'], /outside/],
    [['--size', '5000', '--sector-size', '256'], /multiple/],
    [['--size', '4K', '--sector-size', '1024'], /at least/],
  ];
  for (const [args, message] of bad) {
    const img = ws.path('nv.img');
    assertFails(t, await ws.run(['nvram', 'format', '--device', img, ...args]), 16, [message]);
    t.notOk(existsSync(img), 'no image was created');
    t.same(stateFiles(ws), [], 'no state was recorded');
  }
});

t.test('format with defaults of every type; get, list and their JSON shapes', async (t) => {
  const ws = workspace(t);
  const defaults = writeJson(ws.path('defaults.json'), {
    hostname: 'edge-1',
    boot_count: 0,
    offset: -42,
    serial: { int: INT64_MAX },
    floor: { int: INT64_MIN },
    mac: { hex: '02005a1f0001' },
    empty: '',
    'ключ': 'значение',
  });
  const img = ws.path('nv.img');
  const r = await ws.run(['nvram', 'format', '--device', img, '--size', '16K', '--defaults', defaults, '--json']);
  t.equal(r.code, 0);
  t.match(r.json(), { defaults: 8, created: true });
  const list = await ws.run(['nvram', 'list', '--device', img, '--json']);
  t.equal(list.code, 0);
  t.same(list.json(), {
    entries: [
      { key: 'boot_count', type: 'int', value: 0 },
      { key: 'empty', type: 'string', value: '' },
      { key: 'floor', type: 'int', value: { int: INT64_MIN } },
      { key: 'hostname', type: 'string', value: 'edge-1' },
      { key: 'mac', type: 'bytes', value: { hex: '02005a1f0001' } },
      { key: 'offset', type: 'int', value: -42 },
      { key: 'serial', type: 'int', value: { int: INT64_MAX } },
      { key: 'ключ', type: 'string', value: 'значение' },
    ],
  });
  t.equal((await ws.run(['nvram', 'list', '--device', img])).stdout.split('\n')[0], 'boot_count=0', 'plain list prints key=value lines');
  t.same((await ws.run(['nvram', 'get', '--device', img, 'mac', '--json'])).json(), { key: 'mac', type: 'bytes', value: { hex: '02005a1f0001' } });
  t.same((await ws.run(['nvram', 'get', '--device', img, 'serial', '--json'])).json(), { key: 'serial', type: 'int', value: { int: INT64_MAX } });
  t.same((await ws.run(['nvram', 'get', '--device', img, 'offset', '--json'])).json(), { key: 'offset', type: 'int', value: -42 });
  t.equal((await ws.run(['nvram', 'get', '--device', img, 'mac'])).stdout, '02005a1f0001\n', 'plain get prints bytes in hex');
  t.equal((await ws.run(['nvram', 'get', '--device', img, 'floor'])).stdout, `${INT64_MIN}\n`, 'and ints in decimal');
  t.equal((await ws.run(['nvram', 'get', '--device', img, 'ключ'])).stdout, 'значение\n');
  assertFails(t, await ws.run(['nvram', 'get', '--device', img, 'missing']), 16, [/missing/]);
  assertFails(t, await ws.run(['nvram', 'get', '--device', img, 'missing', '--json']), 16, [/missing/]);
});

t.test('bad defaults files exit 16 and create nothing', async (t) => {
  const ws = workspace(t);
  const files: [string, string, RegExp][] = [
    ['not-json.json', '{"a": ', /JSON/],
    ['array.json', '["a"]', /object/],
    ['float.json', '{"ratio": 0.5}', /ratio/],
    ['odd-hex.json', '{"mac": {"hex": "abc"}}', /mac/],
    ['too-big-int.json', '{"n": {"int": "9223372036854775808"}}', /64-bit/],
    ['huge.json', JSON.stringify({ blob: 'x'.repeat(5000) }), /bytes/],
  ];
  for (const [name, text, message] of files) {
    const path = ws.path(name);
    writeFileSync(path, text);
    const img = ws.path('nv.img');
    assertFails(t, await ws.run(['nvram', 'format', '--device', img, '--size', '4K', '--defaults', path]), 16, [message]);
    t.notOk(existsSync(img), `${name}: no image was created`);
    t.same(stateFiles(ws), [], `${name}: no state was recorded`);
  }
  assertFails(t, await ws.run(['nvram', 'format', '--device', ws.path('nv.img'), '--size', '4K', '--defaults', ws.path('absent.json')]), 16, [/absent\.json/]);
});

t.test('set, get, unset with --json output shapes', async (t) => {
  const ws = workspace(t);
  const img = await formatted(ws);
  const set = await ws.run(['nvram', 'set', '--device', img, 'name', 'box', '--json']);
  t.equal(set.code, 0);
  t.same(set.json(), { key: 'name', type: 'string', value: 'box' });
  t.equal((await ws.run(['nvram', 'set', '--device', img, 'name', 'box'])).stdout, '', 'plain set prints nothing');
  t.same((await ws.run(['nvram', 'set', '--device', img, 'n', '0x10', '--type', 'int', '--json'])).json(), { key: 'n', type: 'int', value: 16 });
  t.same((await ws.run(['nvram', 'set', '--device', img, 'b', 'DEADbeef', '--type', 'bytes', '--json'])).json(), {
    key: 'b',
    type: 'bytes',
    value: { hex: 'deadbeef' },
  });
  t.same((await ws.run(['nvram', 'set', '--device', img, 'e', '', '--type', 'bytes', '--json'])).json(), { key: 'e', type: 'bytes', value: { hex: '' } });
  t.same((await ws.run(['nvram', 'set', '--device', img, 'n', 'now a string', '--json'])).json(), { key: 'n', type: 'string', value: 'now a string' });
  t.same(await listValues(ws, img), { b: { hex: 'deadbeef' }, e: { hex: '' }, n: 'now a string', name: 'box' });
  t.same((await ws.run(['nvram', 'unset', '--device', img, 'b', '--json'])).json(), { key: 'b', removed: true });
  const again = await ws.run(['nvram', 'unset', '--device', img, 'b', '--json']);
  t.equal(again.code, 0, 'unset of a missing key still exits 0');
  t.same(again.json(), { key: 'b', removed: false });
  t.same(await listValues(ws, img), { e: { hex: '' }, n: 'now a string', name: 'box' });
  t.equal((await ws.run(['nvram', 'check', '--device', img])).code, 0, 'the store checks clean after the writes');
});

t.test('int range edges and malformed values', async (t) => {
  const ws = workspace(t);
  const img = await formatted(ws);
  const good: [string, string, unknown][] = [
    ['max', INT64_MAX, { int: INT64_MAX }],
    ['min', INT64_MIN, { int: INT64_MIN }],
    ['hex', '0x7fffffffffffffff', { int: INT64_MAX }],
    ['safe', String(Number.MAX_SAFE_INTEGER), Number.MAX_SAFE_INTEGER],
    ['beyond', String(Number.MAX_SAFE_INTEGER + 1), { int: String(Number.MAX_SAFE_INTEGER + 1) }],
    ['minus', '-1', -1],
  ];
  for (const [key, v] of good) t.equal((await ws.run(['nvram', 'set', '--device', img, key, v, '--type', 'int'])).code, 0, `int ${v} is accepted`);
  t.same(await listValues(ws, img), Object.fromEntries(good.map(([k, , json]) => [k, json])), 'within 2^53 as JSON numbers, beyond as {"int": ...}');
  t.equal((await ws.run(['nvram', 'get', '--device', img, 'min'])).stdout, `${INT64_MIN}\n`);
  t.equal((await ws.run(['nvram', 'get', '--device', img, 'max'])).stdout, `${INT64_MAX}\n`);
  const before = readBytes(img);
  const bad: [string, string][] = [
    ['9223372036854775808', 'int'],
    ['-9223372036854775809', 'int'],
    ['0x8000000000000000', 'int'],
    ['12a', 'int'],
    ['1.5', 'int'],
    ['', 'int'],
    ['abc', 'bytes'],
    ['zz', 'bytes'],
  ];
  for (const [v, type] of bad) assertFails(t, await ws.run(['nvram', 'set', '--device', img, 'n', v, '--type', type]), 16, [/value/]);
  assertFails(t, await ws.run(['nvram', 'set', '--device', img, 'k'.repeat(256), 'v']), 16, [/key/]);
  assertFails(t, await ws.run(['nvram', 'set', '--device', img, '', 'v']), 16, [/key/]);
  t.same(readBytes(img), before, 'no failed set changed the image');
});

t.test('format over an existing store needs --force', async (t) => {
  const ws = workspace(t);
  const defaults = writeJson(ws.path('defaults.json'), { mode: 'factory' });
  const img = await formatted(ws, 'nv.img', ['--defaults', defaults]);
  t.equal((await ws.run(['nvram', 'set', '--device', img, 'mode', 'field'])).code, 0);
  const before = readBytes(img);
  const state = stateFiles(ws).map((f) => readFileSync(join(ws.stateDir, 'nvram', f), 'utf8'));
  assertFails(t, await ws.run(['nvram', 'format', '--device', img, '--size', '8K']), 16, [/--force/]);
  assertFails(t, await ws.run(['nvram', 'format', '--device', img, '--size', '16K', '--json']), 16, [/--force|less than/]);
  t.same(readBytes(img), before, 'the store is untouched');
  t.same(
    stateFiles(ws).map((f) => readFileSync(join(ws.stateDir, 'nvram', f), 'utf8')),
    state,
    'the recorded state is untouched',
  );
  t.equal((await ws.run(['nvram', 'get', '--device', img, 'mode'])).stdout, 'field\n');

  const r = await ws.run(['nvram', 'format', '--device', img, '--size', '8K', '--sector-size', '512', '--force', '--json']);
  t.equal(r.code, 0, 'with --force the store is laid out again');
  t.match(r.json(), { generation: '2', created: false, defaults: 0, geometry: { sectorSize: 512 } });
  t.same(await listValues(ws, img), {}, 'holding only the new defaults');
  t.match((await ws.run(['nvram', 'check', '--device', img, '--json'])).json(), { clean: true, generation: '2', geometry: { sectorSize: 512 } });
});

t.test('format on an existing file: any contents of the right size, never a smaller one', async (t) => {
  const ws = workspace(t);
  const img = ws.path('blank.img');
  writeFileSync(img, Buffer.alloc(8192, 0xff));
  const r = await ws.run(['nvram', 'format', '--device', img, '--size', '8K', '--json']);
  t.equal(r.code, 0);
  t.match(r.json(), { created: false, generation: '1' });
  const small = ws.path('small.img');
  writeFileSync(small, Buffer.alloc(4096, 0xff));
  assertFails(t, await ws.run(['nvram', 'format', '--device', small, '--size', '8K']), 16, [/small\.img/, /less than/]);
  t.same(readBytes(small), Buffer.alloc(4096, 0xff), 'the smaller file is unchanged');
  t.same(stateFiles(ws).length, 1, 'only the first format recorded state');
});
