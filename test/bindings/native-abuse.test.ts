import t from 'tap';
import { addon } from '../../bindings/addon';
import { handleSnapshot } from './handles';
import { assertCleanExit, runChild } from './native-child';

// Every function the addon exports, called with what it does not expect: wrong types, wrong sizes,
// detached buffers, closed handles. Each call must return or throw (or reject with) an error that
// carries a code or an errno (what SalvorError.fromNative needs), never crash and never throw a
// message-only error. Each function's cases run in their own child process, so a crash fails that
// function's test instead of killing tap.

const handles = handleSnapshot();

// Expressions evaluated in the child, where `a` is the addon and these helpers exist.
const prelude = `
const { addon } = require(DIST + '/bindings/addon.js');
const a = addon();
const detached = (n = 4096) => { const b = Buffer.alloc(n); structuredClone(b.buffer, { transfer: [b.buffer] }); return b; };
const openRegion = () => new a.Region(16 * a.pageSize);
const closedRegion = () => { const r = openRegion(); r.close(); return r; };
const page = () => Buffer.alloc(4096);
const junk = [undefined, null, -1, 2 ** 53, NaN, 'text', {}, [], () => 1, Symbol('s'), 10n, new Uint16Array(8), new Float64Array(2), new DataView(new ArrayBuffer(8))];
`;

/** name -> expressions; 'region.x' cases run a Region method. `all(fn)` expands to fn called with each junk value in each position. */
const cases: Record<string, string[]> = {
  configureBoundary: ['a.configureBoundary()', 'a.configureBoundary(-5)', 'a.configureBoundary("x")', 'a.configureBoundary(2 ** 60)', 'a.configureBoundary(() => {})'],
  crc32c: ['a.crc32c()', 'a.crc32c(detached())', 'a.crc32c(page(), -1)', 'a.crc32c(page(), 2 ** 40)', 'all(a.crc32c, 2)'],
  crc32: ['a.crc32()', 'a.crc32(detached())', 'a.crc32(page(), 1.5)', 'all(a.crc32, 2)'],
  verifySectors: ['a.verifySectors(page(), 0, 0)', 'a.verifySectors(page(), 8, 0)', 'a.verifySectors(page(), 3000, 0)', 'a.verifySectors(detached(), 512, 0)', 'a.verifySectors(page(), 512, -1)', 'all(a.verifySectors, 3)'],
  verifySectorsAsync: ['a.verifySectorsAsync(page(), 4, 0)', 'a.verifySectorsAsync(detached(), 512, 0)', 'a.verifySectorsAsync(page(), 2 ** 33, 0)', 'all(a.verifySectorsAsync, 3)'],
  sealSectors: ['a.sealSectors(page(), 7, 0)', 'a.sealSectors(detached(), 512, 0)', 'a.sealSectors(page(), 4096, 2 ** 32)', 'all(a.sealSectors, 3)'],
  hashPages: ['a.hashPages(page(), 4096, Buffer.alloc(7))', 'a.hashPages(page(), 100, Buffer.alloc(8))', 'a.hashPages(page(), 4096, page())', 'a.hashPages(detached(), 4096, Buffer.alloc(8))', 'all(a.hashPages, 3)'],
  scanPages: ['a.scanPages(page(), 4096, Buffer.alloc(8), 65)', 'a.scanPages(page(), 4096, Buffer.alloc(8), -1)', 'a.scanPages(page(), 4096, Buffer.alloc(9))', 'a.scanPages(detached(), 4096, Buffer.alloc(8))', '(() => { const b = page(); return a.scanPages(b, 512, b.subarray(0, 64)); })()', 'all(a.scanPages, 4)'],
  scanPagesSync: ['a.scanPagesSync(page(), 4096, Buffer.alloc(8), 2 ** 31)', 'a.scanPagesSync(page(), 1 << 20, Buffer.alloc(8))', 'a.scanPagesSync(detached(), 4096, Buffer.alloc(8))', 'all(a.scanPagesSync, 4)'],
  xxh64: ['a.xxh64(page(), -1n)', 'a.xxh64(page(), 2n ** 64n)', 'a.xxh64(page(), 5)', 'a.xxh64(detached())', 'all(a.xxh64, 2)'],
  deviceInfo: ['a.deviceInfo(-1)', 'a.deviceInfo(2 ** 31 - 1)', 'a.deviceInfo(1.5)', 'all(a.deviceInfo, 1)'],
  lockDevice: ['a.lockDevice(-1, true)', 'a.lockDevice(999999, false)', 'all(a.lockDevice, 2)'],
  unlockDevice: ['a.unlockDevice(-1)', 'a.unlockDevice(999999)', 'all(a.unlockDevice, 1)'],
  probeCpu: ['a.probeCpu(1, 2, 3)', 'all(a.probeCpu, 1)'],
  probeUserfaultfd: ['a.probeUserfaultfd("x")', 'all(a.probeUserfaultfd, 1)'],
  probePagemapScan: ['a.probePagemapScan()', 'a.probePagemapScan("yes")', 'all(a.probePagemapScan, 1)'],
  probeSoftDirty: ['a.probeSoftDirty(null)', 'all(a.probeSoftDirty, 1)'],
  probeLoopControl: ['a.probeLoopControl(5)', 'all(a.probeLoopControl, 1)'],
  probeLibcuda: ['a.probeLibcuda({})', 'all(a.probeLibcuda, 1)'],
  encodePageDelta: ['a.encodePageDelta(page(), Buffer.alloc(8192))', 'a.encodePageDelta(Buffer.alloc(100), Buffer.alloc(100))', 'a.encodePageDelta(detached(), page())', 'all(a.encodePageDelta, 2)'],
  applyPageDelta: ['a.applyPageDelta(page(), Buffer.alloc(0))', 'a.applyPageDelta(page(), Buffer.from([0x13, 0xff, 0xff, 0xff]))', 'a.applyPageDelta(page(), detached())', 'a.applyPageDelta(detached(), page())', 'all(a.applyPageDelta, 2)'],
  encodePageDeltas: ['a.encodePageDeltas(page(), Buffer.alloc(8192), 4096)', 'a.encodePageDeltas(page(), page(), 4096, new Uint32Array([5]))', 'a.encodePageDeltas(page(), page(), 4096, new Uint32Array([0, 0]))', 'a.encodePageDeltas(page(), page(), 4096, [0])', 'a.encodePageDeltas(detached(), detached(), 4096)', 'all(a.encodePageDeltas, 4)'],
  encodePageDeltasAsync: ['a.encodePageDeltasAsync(page(), page(), 3)', 'a.encodePageDeltasAsync(page(), page(), 4096, new Uint32Array([9]))', 'a.encodePageDeltasAsync(detached(), detached(), 4096)', 'all(a.encodePageDeltasAsync, 4)'],
  applyPageDeltas: ['a.applyPageDeltas(page(), Buffer.alloc(16), 4096)', 'a.applyPageDeltas(page(), page(), 4096)', '(() => { const b = Buffer.alloc(8192); return a.applyPageDeltas(b.subarray(0, 4096), b.subarray(100, 200), 4096); })()', 'a.applyPageDeltas(detached(), page(), 4096)', 'all(a.applyPageDeltas, 3)'],
  applyPageDeltasAsync: ['a.applyPageDeltasAsync(page(), Buffer.alloc(16), 4096)', 'a.applyPageDeltasAsync(page(), detached(), 4096)', 'a.applyPageDeltasAsync(detached(), page(), 4096)', 'all(a.applyPageDeltasAsync, 3)'],
  Region: ['new a.Region()', 'new a.Region(0)', 'new a.Region(-4096)', 'new a.Region(4097)', 'new a.Region(2 ** 60)', 'new a.Region("/nonexistent/region")', 'new a.Region("/dev/null")', 'new a.Region(DIST)', 'all((x) => new a.Region(x), 1)'],
  'region.buffer': ['closedRegion().buffer()', 'openRegion().buffer(-1, 5)', 'openRegion().buffer(0, 0)', 'openRegion().buffer(0, 2 ** 40)', 'openRegion().buffer(2 ** 53, 1)', 'all((x, y) => openRegion().buffer(x, y), 2)'],
  'region.attach': ['openRegion().attach("nope")', '(() => { const r = openRegion(); r.attach("hash"); r.attach("hash"); })()', 'openRegion().attach("hash", -1)', 'openRegion().attach("hash", 2 ** 32 - 1)', 'closedRegion().attach("hash")', 'all((x, y) => openRegion().attach(x, y), 2)'],
  'region.arm': ['openRegion().arm("hash")', 'closedRegion().arm("hash")', '(() => { const r = openRegion(); r.attach("hash"); r.arm("hash"); return r.arm("hash"); })()', 'all((x) => openRegion().arm(x), 1)'],
  'region.collect': ['openRegion().collect("mprotect")', 'closedRegion().collect("hash")', '(() => { const r = openRegion(); r.attach("hash"); const p = r.collect("hash"); r.close(); return p; })()', 'all((x) => openRegion().collect(x), 1)'],
  'region.detach': ['openRegion().detach("hash")', 'closedRegion().detach("hash")', 'all((x) => openRegion().detach(x), 1)'],
  'region.stage': ['openRegion().stage(new Uint32Array([0, 17]))', 'openRegion().stage(new Uint32Array([0]))', 'openRegion().stage(new Uint32Array([3, 0]))', 'openRegion().stage(new Uint32Array([0, 2, 1, 2]))', 'openRegion().stage(new Uint32Array(400000).fill(1))', 'closedRegion().stage(new Uint32Array([0, 1]))', 'openRegion().stage([0, 1])', 'all((x) => openRegion().stage(x), 1)'],
  'region.fileSize': ['closedRegion().fileSize()', 'openRegion().fileSize(1, 2)'],
  'region.close': ['(() => { const r = openRegion(); r.close(); r.close(); })()', 'openRegion().close("x")'],
  measureWriteFaultCost: ['a.measureWriteFaultCost("nope")', 'a.measureWriteFaultCost("mprotect", -1)', 'a.measureWriteFaultCost("mprotect", 2 ** 40)', 'all(a.measureWriteFaultCost, 2)'],
  startWriteLoad: ['a.startWriteLoad(closedRegion())', 'a.startWriteLoad({})', 'a.startWriteLoad(openRegion(), -1)', 'a.startWriteLoad(openRegion(), 1, "x")', 'all(a.startWriteLoad, 1)'],
  notifySocket: ['a.notifySocket("/nonexistent/sock", "x")', 'a.notifySocket("@" + "x".repeat(200), "x")', 'a.notifySocket("/" + "x".repeat(5000), "x")', 'a.notifySocket("", "")', 'all(a.notifySocket, 2)'],
  teeOpen: ['a.teeOpen("/nonexistent/tee0")', 'a.teeOpen("")', 'all(a.teeOpen, 1)'],
  teeIoctl: ['a.teeIoctl(-1, "version", Buffer.alloc(36))', 'a.teeIoctl(999999, "version", Buffer.alloc(36))', 'a.teeIoctl(0, "nope", Buffer.alloc(8))', 'a.teeIoctl(-1, "version", detached())', 'a.teeIoctl(-1, "invoke", Buffer.alloc(1))', 'all(a.teeIoctl, 4)'],
  teeClose: ['a.teeClose(-1)', 'a.teeClose(999999)', 'a.teeClose(1.5)', 'all(a.teeClose, 1)'],
  peerCredentials: ['a.peerCredentials(-1)', 'a.peerCredentials(0)', 'a.peerCredentials(999999)', 'all(a.peerCredentials, 1)'],
};

// The child runs each case and prints one line per case: the expression and its outcome.
const runner = `
function all(fn, arity) {
  const out = [];
  for (let at = 0; at < arity; at++)
    for (const j of junk) {
      const args = [page(), 4096, Buffer.alloc(8), undefined].slice(0, arity);
      args[at] = j;
      out.push(() => fn(...args));
    }
  return out;
}
function outcome(e) {
  if (e && typeof e === 'object' && (typeof e.code === 'string' || typeof e.errno === 'number')) return 'error ' + (e.code ?? e.errno);
  return 'UNCODED ' + String(e && e.message || e);
}
async function settle(call) {
  try { const v = call(); if (v && typeof v.then === 'function') await v; return 'returned'; } catch (e) { return outcome(e); }
}
(async () => {
  for (const expr of CASES) {
    const calls = expr.startsWith('all(') ? eval(expr) : [() => eval(expr)];
    const seen = new Set();
    for (const c of calls) seen.add(await settle(c));
    console.log(JSON.stringify({ expr, outcomes: [...seen] }));
  }
  global.gc();
})().catch((e) => { console.error(e); process.exit(3); });
`;

t.test('every exported function has abuse cases', async (t) => {
  const native = addon() as unknown as Record<string, unknown>;
  const functions = Object.keys(native).filter((k) => typeof native[k] === 'function');
  t.same(functions.filter((f) => !cases[f]), [], 'no exported function without cases');
  const methods = Object.getOwnPropertyNames((native.Region as { prototype: object }).prototype).filter((m) => m !== 'constructor');
  const regionMethods = methods.filter((m) => typeof Object.getOwnPropertyDescriptor((native.Region as { prototype: object }).prototype, m)?.value === 'function');
  t.same(regionMethods.filter((m) => !cases[`region.${m}`]), [], 'no Region method without cases');
});

for (const [name, exprs] of Object.entries(cases))
  t.test(`${name}: bad calls give coded errors, never a crash`, async (t) => {
    const r = await runChild(`${prelude}\nconst CASES = ${JSON.stringify(exprs)};\n${runner}`, 120_000);
    assertCleanExit(t, r, `${name} under abuse`);
    const lines = r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { expr: string; outcomes: string[] });
    t.equal(lines.length, exprs.length, 'every case ran');
    for (const { expr, outcomes } of lines) {
      t.same(outcomes.filter((o) => o.startsWith('UNCODED')), [], `${expr}: no message-only error`);
      // A single named bad call must fail; the 'all' sweeps may legitimately accept some junk (an ignored argument).
      if (!expr.startsWith('all(') && !/close\(\)|probe|detach\(|fileSize\(1|close\("x"\)/.test(expr))
        t.ok(outcomes.every((o) => o.startsWith('error')), `${expr}: refused (${outcomes.join(', ')})`);
    }
  });

handles.check(t);
