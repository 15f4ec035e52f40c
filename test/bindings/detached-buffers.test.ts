import t from 'tap';
import { handleSnapshot } from './handles';
import { assertCleanExit, runChild } from './native-child';

// An async native call keeps using its buffers on a pool thread after it returns. Transferring a
// buffer meanwhile (structuredClone or postMessage with a transfer list) used to detach it and free
// the memory under the worker. Now the call pins its buffers: the transfer copies, the call finishes
// on memory that stays put and gives the same answer as the synchronous call. Each case runs in a
// child process, where a use-after-free would show as a signal instead of killing tap.

const handles = handleSnapshot();

const MiB = 1 << 20;
const prelude = `
const { MessageChannel } = require('node:worker_threads');
const { addon } = require(DIST + '/bindings/addon.js');
const a = addon();
const MiB = ${MiB};
function filled(n, seed) { const b = Buffer.alloc(n); for (let i = 0; i < n; i += 4093) b[i] = (i * seed) & 0xff; return b; }
function transfer(u8, how) {
  if (how === 'structuredClone') return structuredClone(u8.buffer, { transfer: [u8.buffer] });
  const { port1, port2 } = new MessageChannel();
  port1.postMessage(u8.buffer, [u8.buffer]);
  port1.close(); port2.close();
}
// Transfers every buffer while the call runs, drops the copies, and collects garbage, so memory a
// detach had freed would be unmapped before the pool thread reads it.
async function race(how, buffers, start) {
  const p = start();
  for (const b of buffers) transfer(b, how);
  for (let i = 0; i < 3; i++) { global.gc(); Buffer.alloc(64 * MiB).fill(7); }
  const result = await p;
  for (const b of buffers) if (b.length === 0) throw new Error('a pinned buffer was detached');
  return result;
}
function same(x, y, what) { if (JSON.stringify(x) !== JSON.stringify(y)) throw new Error(what + ': ' + JSON.stringify(x).slice(0, 80) + ' vs ' + JSON.stringify(y).slice(0, 80)); }
async function detachedUpFront(start, make) {
  const b = make(); transfer(b, 'structuredClone');
  try { await start(b); } catch (e) { if (e.code === 'SALVOR_DETACHED') return; throw e; }
  throw new Error('a detached buffer was accepted');
}
`;

const cases: Record<string, string> = {
  verifySectorsAsync: `
    const region = filled(64 * MiB, 3); a.sealSectors(region.subarray(0, 32 * MiB), 4096, 0);
    const want = a.verifySectors(region, 4096, 0);
    same(await race(how, [region], () => a.verifySectorsAsync(region, 4096, 0)), want, 'bad sectors');
    await detachedUpFront((b) => a.verifySectorsAsync(b, 4096, 0), () => Buffer.alloc(MiB));`,
  scanPages: `
    const region = filled(64 * MiB, 5), hashes = Buffer.alloc(64 * MiB / 4096 * 8), check = Buffer.alloc(hashes.length);
    const want = a.scanPagesSync(region, 4096, check);
    same(Array.from(await race(how, [region, hashes], () => a.scanPages(region, 4096, hashes))), Array.from(want), 'runs');
    same(hashes.equals(check), true, 'fingerprints');
    await detachedUpFront((b) => a.scanPages(b, 4096, Buffer.alloc(0)), () => Buffer.alloc(4096));`,
  encodePageDeltasAsync: `
    const before = filled(64 * MiB, 7), after = filled(64 * MiB, 11);
    const want = a.encodePageDeltas(before, after, 4096);
    same((await race(how, [before, after], () => a.encodePageDeltasAsync(before, after, 4096))).equals(want), true, 'stream');
    await detachedUpFront((b) => a.encodePageDeltasAsync(b, b, 4096), () => Buffer.alloc(4096));`,
  applyPageDeltasAsync: `
    const before = filled(64 * MiB, 7), after = filled(64 * MiB, 11);
    const stream = a.encodePageDeltas(before, after, 4096);
    const applied = await race(how, [before, stream], () => a.applyPageDeltasAsync(before, stream, 4096));
    same(applied > 0 && before.equals(after), true, 'pages updated in place');
    await detachedUpFront((b) => a.applyPageDeltasAsync(b, a.encodePageDeltas(Buffer.alloc(4096), Buffer.alloc(4096), 4096), 4096), () => Buffer.alloc(4096));`,
};

for (const [fn, body] of Object.entries(cases))
  for (const how of ['structuredClone', 'postMessage'])
    t.test(`${fn}: its buffers transferred by ${how} during the call`, async (t) => {
      const r = await runChild(`${prelude}\nconst how = ${JSON.stringify(how)};\n(async () => {${body}\n console.log('ok'); })().catch((e) => { console.error(e); process.exit(3); });`);
      assertCleanExit(t, r, `${fn} with its buffers transferred by ${how}`);
      t.equal(r.stdout.trim(), 'ok', 'same answer as the synchronous call, and a detached buffer refused with SALVOR_DETACHED');
    });

handles.check(t);
