import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { handleSnapshot } from './handles';
import { DIST, assertCleanExit, runChild } from './native-child';

// Regions past Node's Buffer limit (4 GiB on Node 20). Taking such a region's buffer used to end in
// a double free inside Buffer creation; now the whole-region buffer is refused with SALVOR_TOO_LARGE
// and the region is read through windows, while trackers, collect and copyPages work natively.
// Memory stays small: untouched anonymous pages read as the shared zero page, and only a few pages
// are written. Each case runs in a child process, where a crash fails the test instead of tap.

const handles = handleSnapshot();
const GiB = 2 ** 30;

const sixteenGiB = (spec: object, backend: string) => `
const { openRegion } = require(DIST + '/index.js');
const { constants } = require('node:buffer');
const { truncateSync, writeFileSync } = require('node:fs');
(async () => {
  const out = {};
  const spec = ${JSON.stringify(spec)};
  if (spec.path) { writeFileSync(spec.path, ''); truncateSync(spec.path, ${16 * GiB}); }
  const r = await openRegion({ ...spec, backend: ${JSON.stringify(backend)} });
  out.backend = r.backend;
  try { r.buffer; } catch (e) { out.whole = e.code; }
  const page = r.pageSize, last = ${16 * GiB} / page - 1, at4 = ${4 * GiB} / page;
  const spots = [3, at4 - 1, at4, at4 + 1, last];
  for (const p of spots) r.window(p * page, page)[7] = 1 + (p % 250);
  const straddle = r.window(${4 * GiB} - page, 2 * page); // a window across the 4 GiB line
  out.straddle = [straddle[7], straddle[page + 7]];
  const runs = await r.collect();
  out.runs = runs;
  const copy = await r.copyPages(runs);
  let at = 0; out.copied = [];
  for (const run of runs) for (let p = run.first; p < run.first + run.count; p++, at += page) out.copied.push(copy[at + 7]);
  out.again = await r.collect();
  try { r.window(0, constants.MAX_LENGTH + page); } catch (e) { out.bigWindow = e.code; }
  try { await r.copyPages([{ first: 0, count: last + 1 }]); } catch (e) { out.copyAll = e.code; }
  r.close();
  console.log(JSON.stringify(out));
})().catch((e) => { console.error(e); process.exit(3); });
`;

const regions: [string, (dir: string) => object, string][] = [
  ['a 16 GiB anonymous region (auto: a fault-based tracker)', () => ({ size: 16 * GiB }), 'auto'],
  ['a sparse 16 GiB file (hash: holes are not read)', (dir) => ({ path: join(dir, 'sparse.region') }), 'hash'],
];
for (const [name, spec, backend] of regions)
  t.test(`${name}: windows, collect and copyPages past 4 GiB`, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'salvor-big-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const r = await runChild(sixteenGiB(spec(dir), backend), 180_000);
    assertCleanExit(t, r, name);
    const out = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as Record<string, unknown>;
    const at4 = (4 * GiB) / 4096;
    t.equal(out.whole, 'SALVOR_TOO_LARGE', 'the whole region as one Buffer is refused with a code');
    t.same(out.straddle, [1 + ((at4 - 1) % 250), 1 + (at4 % 250)], 'a window across 4 GiB reads both sides');
    t.same(out.runs, [{ first: 3, count: 1 }, { first: at4 - 1, count: 3 }, { first: 4 * at4 - 1, count: 1 }], 'collect reports the written pages, past 4 GiB included');
    t.same(out.copied, [3, at4 - 1, at4, at4 + 1, 4 * at4 - 1].map((p) => 1 + (p % 250)), 'copyPages copies them');
    t.same(out.again, [], 'then nothing');
    t.equal(out.bigWindow, 'SALVOR_TOO_LARGE', 'a window past the Buffer limit is refused');
    t.equal(out.copyAll, 'SALVOR_TOO_LARGE', 'copying more than one Buffer holds is refused before anything is allocated');
  });

t.test('copyPages refuses overlapping, out-of-range and oversized runs before allocating', async (t) => {
  const r = await runChild(`
const { openRegion } = require(DIST + '/index.js');
(async () => {
  const r = await openRegion({ size: 64 * 4096, backend: 'hash' });
  const out = {};
  const tryCopy = async (name, runs) => { try { await r.copyPages(runs); out[name] = 'copied'; } catch (e) { out[name] = e.code + ': ' + e.message; } };
  await tryCopy('overlapping', Array.from({ length: 200000 }, () => ({ first: 0, count: 64 })));
  await tryCopy('twice', [{ first: 5, count: 1 }, { first: 1, count: 5 }]);
  await tryCopy('past the end', [{ first: 60, count: 5 }]);
  await tryCopy('empty run', [{ first: 1, count: 0 }]);
  await tryCopy('disjoint', Array.from({ length: 32 }, (_, i) => ({ first: 63 - 2 * i, count: 1 })));
  r.close();
  console.log(JSON.stringify(out));
})().catch((e) => { console.error(e); process.exit(3); });
`);
  assertCleanExit(t, r, 'copyPages with bad runs');
  const out = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as Record<string, string>;
  t.match(out.overlapping, /^SALVOR_EINVAL: .*overlap/, '200,000 overlapping runs: one coded error, no allocation');
  t.match(out.twice, /^SALVOR_EINVAL: .*1\+5 and 5\+1 overlap/, 'a page in two runs is named');
  t.match(out['past the end'], /^SALVOR_EINVAL: .*60\+5 is outside/);
  t.match(out['empty run'], /^SALVOR_EINVAL/);
  t.equal(out.disjoint, 'copied', 'disjoint runs in any order are copied');
});

t.test('salvor replicate primary over a sparse 8 GiB file ends with one line and exit 8, not a crash', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'salvor-big-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const r = await runChild(`
const { spawnSync } = require('node:child_process');
const { truncateSync, writeFileSync } = require('node:fs');
const region = ${JSON.stringify(join(dir, 'big.region'))}, key = ${JSON.stringify(join(dir, 'key'))};
writeFileSync(region, ''); truncateSync(region, ${8 * GiB});
writeFileSync(key, 'k'.repeat(32), { mode: 0o600 });
const run = spawnSync(process.execPath, [DIST + '/tools/salvor.js', 'replicate', 'primary', '--region', region, '--listen', 'tcp://127.0.0.1:0', '--psk-file', key], { encoding: 'utf8', timeout: 120000, env: { ...process.env, SALVOR_STATE_DIR: ${JSON.stringify(join(dir, 'state'))} } });
console.log(JSON.stringify({ status: run.status, signal: run.signal, stderr: run.stderr }));
`, 180_000);
  assertCleanExit(t, r, 'the test driver');
  const out = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as { status: number; signal: string | null; stderr: string };
  t.equal(out.signal, null, 'no signal (it was SIGABRT from a double free)');
  t.equal(out.status, 8, 'exit 8: an operational limit, not bad input');
  t.match(out.stderr, /region holds 8589934592 bytes.*one Buffer/, 'the line says why');
  t.equal(out.stderr.trim().split('\n').length, 1, 'one line');
});

t.test('a child that crashes is reported, not survived (the harness itself)', async (t) => {
  const r = await runChild(`process.kill(process.pid, 'SIGSEGV');`);
  t.equal(r.signal, 'SIGSEGV');
  t.ok(DIST.length > 0);
});

handles.check(t);
