import t from 'tap';
import { handleSnapshot } from './handles';
import { assertCleanExit, runChild } from './native-child';

// A worker_thread terminated while it is inside salvor calls: a call that throws while the worker is
// being torn down must not abort the process (the addon swallows exceptions it can no longer throw).

const handles = handleSnapshot();

// The worker loops over calls that throw, that return a promise settled on a pool thread, and
// that open and close native objects, so a terminate lands inside each kind.
const workerCode = (dist: string) => `
const { parentPort } = require('node:worker_threads');
const { addon } = require(${JSON.stringify(dist)} + '/bindings/addon.js');
const a = addon();
const sectors = Buffer.alloc(1 << 20);
const region = Buffer.alloc(1 << 20);
const hashes = Buffer.alloc(((1 << 20) / 512) * 8);
parentPort.postMessage('ready');
(async () => {
  for (;;) {
    try { a.crc32c('not a buffer'); } catch {}
    try { a.hashPages(region, 3, hashes); } catch {}
    const r = new a.Region(1 << 16);
    r.attach('hash');
    const round = r.arm('hash').catch(() => {});
    r.close();
    await Promise.all([a.verifySectorsAsync(sectors, 4096, 0), a.scanPages(region, 512, hashes), round, a.encodePageDeltasAsync(region, sectors, 4096)]);
  }
})();
`;

t.test('terminating a worker in the middle of salvor calls leaves the process running', async (t) => {
  const r = await runChild(`
const { Worker } = require('node:worker_threads');
const code = ${JSON.stringify(workerCode('DIST_PLACEHOLDER'))}.replace('"DIST_PLACEHOLDER"', JSON.stringify(DIST));
(async () => {
  for (let i = 0; i < 40; i++) {
    const w = new Worker(code, { eval: true });
    await new Promise((resolve, reject) => { w.once('message', resolve); w.once('error', reject); });
    await new Promise((r) => setTimeout(r, i % 7));
    await w.terminate();
  }
  console.log('terminated 40 workers');
})().catch((e) => { console.error(e); process.exit(3); });
`);
  assertCleanExit(t, r, 'a process whose workers are terminated mid-call');
  t.match(r.stdout, /terminated 40 workers/);
});

handles.check(t);
