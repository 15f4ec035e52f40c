import t from 'tap';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addon } from '../../bindings/addon';
import { openRegion, type TrackedRegion } from '../../index';
import type { PageRun } from '../../lib/replication/dirty-tracker';
import { handleSnapshot } from '../bindings/handles';

// One contract for every tracker this machine offers: no written page is ever missing from the
// rounds, checked against a shadow copy that only ever learns what collect() reported.

const PAGE = addon().pageSize;
const KINDS = ['uffd-wp', 'mprotect', 'soft-dirty', 'hash', 'auto'] as const;
const handles = handleSnapshot();
const dir = mkdtempSync(join(tmpdir(), 'salvor-track-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

function applyRuns(runs: PageRun[], from: Buffer, shadow: Buffer): void {
  for (const r of runs) from.copy(shadow, r.first * PAGE, r.first * PAGE, (r.first + r.count) * PAGE);
}

/** Applies a collectPages() result: the copied pages, in run order. */
function applyPages({ runs, pages }: { runs: PageRun[]; pages: Buffer }, shadow: Buffer): void {
  let at = 0;
  for (const r of runs) {
    pages.copy(shadow, r.first * PAGE, at, at + r.count * PAGE);
    at += r.count * PAGE;
  }
}

async function openOrSkip(t: Tap.Test, kind: (typeof KINDS)[number], spec: { size?: number; path?: string }): Promise<TrackedRegion | undefined> {
  try {
    return await openRegion({ ...spec, backend: kind });
  } catch (err) {
    const e = err as { code?: string; message: string };
    if (e.code !== 'SALVOR_UNSUPPORTED') throw err;
    t.skip(`${kind} is not available on this machine: ${e.message}`);
    return undefined;
  }
}

const rand = (n: number) => Math.floor(Math.random() * n);

for (const kind of KINDS) {
  t.test(`${kind}: random writes over thousands of rounds, shadow stays equal`, async (t) => {
    const region = await openOrSkip(t, kind, { size: 64 * PAGE });
    if (!region) return;
    const buf = region.buffer;
    const shadow = Buffer.alloc(buf.length);
    let mismatches = 0;
    for (let round = 0; round < 2000; round++) {
      const shape = round % 5;
      if (shape === 0) buf[rand(buf.length)] ^= 1 + rand(255); // a single byte
      else if (shape === 1) buf.writeUInt32LE(rand(2 ** 32), PAGE * (1 + rand(62)) - 2); // across a page boundary
      else if (shape === 2) for (let i = 0; i < 5; i++) buf[rand(buf.length)] = rand(256);
      else if (shape === 3 && round % 50 === 3) buf.fill(round & 0xff); // the whole region
      const runs = await region.collect();
      for (const r of runs) if (r.first < 0 || r.count < 1 || r.first + r.count > 64) t.fail(`bad run ${JSON.stringify(r)}`);
      applyRuns(runs, buf, shadow);
      if (!shadow.equals(buf)) {
        mismatches++;
        shadow.set(buf);
      }
    }
    t.equal(mismatches, 0, 'no round missed a written page');
    t.same(await region.collect(), [], 'nothing written: nothing reported');
    region.close();
    region.close();
    t.pass('close is idempotent');
  });

  t.test(`${kind}: a native writer thread races collect(); nothing is lost`, async (t) => {
    const region = await openOrSkip(t, kind, { size: 256 * PAGE });
    if (!region) return;
    const native = (region as unknown as { memory: { handle: { native: object } } }).memory.handle.native;
    const buf = region.buffer;
    const shadow = Buffer.alloc(buf.length);
    const stop = addon().startWriteLoad(native, 42, 4);
    let reported = 0;
    const until = Date.now() + 400;
    for (let round = 0; round < 300 || Date.now() < until; round++) {
      const got = await region.collectPages();
      reported += got.runs.length;
      applyPages(got, shadow);
    }
    const writes = stop();
    applyPages(await region.collectPages(), shadow);
    t.ok(writes > 0, `the writer made ${writes} writes`);
    t.ok(reported > 0, 'rounds reported pages while the writer ran');
    t.ok(shadow.equals(buf), 'after the writer stopped and one more round, the shadow equals the region');
    region.close();
  });
}

t.test('hash and auto on a shared file: a second process writes during the rounds', async (t) => {
  const file = join(dir, 'shared.bin');
  writeFileSync(file, Buffer.alloc(128 * PAGE));
  for (const kind of ['hash', 'auto'] as const) {
    const region = await openRegion({ path: file, backend: kind });
    t.equal(region.backend, 'hash', `${kind} tracks a shared file by hash`);
    const shadow = Buffer.alloc(region.size);
    applyRuns([{ first: 0, count: 128 }], region.buffer, shadow);
    const writer = spawn(process.execPath, [
      '-e',
      `const fs=require('fs');const fd=fs.openSync(${JSON.stringify(file)},'r+');const end=Date.now()+700;let n=0;
       while(Date.now()<end){const b=Buffer.alloc(1+Math.floor(Math.random()*9000));require('crypto').randomFillSync(b);
       fs.writeSync(fd,b,0,b.length,Math.floor(Math.random()*(${128 * PAGE}-b.length)));n++}console.log(n)`,
    ]);
    let out = '';
    writer.stdout.on('data', (d) => (out += d));
    const exited = new Promise((resolve) => writer.on('exit', resolve));
    let rounds = 0;
    let running = true;
    void exited.then(() => (running = false));
    while (running) {
      applyPages(await region.collectPages(), shadow);
      rounds++;
    }
    applyPages(await region.collectPages(), shadow);
    t.ok(Number(out) > 10, `the other process wrote ${out.trim()} times over ${rounds} rounds`);
    t.ok(shadow.equals(readFileSync(file)), 'the shadow equals the file');
    region.close();
  }
});

t.test('switching trackers between rounds loses no write (forced switches, a native writer racing)', async (t) => {
  const region = await openRegion({ size: 1024 * PAGE, backend: 'auto' });
  const kinds = ['hash', 'uffd-wp', 'mprotect', 'hash', 'mprotect', 'uffd-wp', 'hash'] as const;
  const usable: string[] = [];
  const native = (region as unknown as { memory: { handle: { native: object } } }).memory.handle.native;
  const shadow = Buffer.alloc(region.size);
  const stop = addon().startWriteLoad(native, 5, 4);
  for (const kind of kinds) {
    try {
      await region.setBackend(kind);
    } catch (err) {
      if ((err as { code?: string }).code !== 'SALVOR_UNSUPPORTED') throw err;
      continue;
    }
    usable.push(region.backend);
    for (let round = 0; round < 20; round++) applyPages(await region.collectPages(), shadow);
  }
  stop();
  applyPages(await region.collectPages(), shadow);
  t.ok(shadow.equals(region.buffer), `shadow equals region after switches ${usable.join(' -> ')}`);
  t.ok(new Set(usable).size >= 2, 'at least two trackers took part');
  await region.setBackend('auto');
  region.close();
});

t.test('auto under alternating light and heavy rounds keeps the shadow equal', async (t) => {
  const decisions: string[] = [];
  const pages = 16384;
  const region = await openRegion({ size: pages * PAGE, backend: 'auto', onDecision: (e) => decisions.push(`${e.from}->${e.kind}`) });
  const buf = region.buffer;
  const shadow = Buffer.alloc(buf.length);
  let mismatches = 0;
  for (let round = 0; round < 24; round++) {
    const heavy = Math.floor(round / 4) % 2 === 1;
    if (heavy) for (let p = 0; p < pages; p++) buf[p * PAGE + rand(PAGE)] = rand(256);
    else buf[rand(buf.length)] = rand(256);
    applyPages(await region.collectPages(), shadow);
    if (!shadow.equals(buf)) mismatches++;
  }
  t.equal(mismatches, 0, `every round equal (decisions: ${decisions.join(', ')})`);
  region.close();
});

t.test('bad sizes, a shrinking file, close during a round', async (t) => {
  await t.rejects(openRegion({ size: 5000 }), { code: 'SALVOR_EINVAL' }, 'size not a page multiple');
  await t.rejects(openRegion({ size: 0 }), { code: 'SALVOR_EINVAL' });
  await t.rejects(openRegion({}), { code: 'SALVOR_BAD_INPUT' }, 'neither size nor path');
  await t.rejects(openRegion({ size: PAGE, backend: 'nope' as 'hash' }), { code: 'SALVOR_BAD_INPUT' });
  const odd = join(dir, 'odd.bin');
  writeFileSync(odd, Buffer.alloc(5000));
  await t.rejects(openRegion({ path: odd }), { code: 'SALVOR_EINVAL', message: /5000 bytes/ });
  await t.rejects(openRegion({ path: join(dir, 'missing.bin') }), { code: 'ENOENT' });

  const shrinking = join(dir, 'shrink.bin');
  writeFileSync(shrinking, Buffer.alloc(64 * PAGE));
  const region = await openRegion({ path: shrinking, backend: 'hash' });
  writeFileSync(shrinking, Buffer.alloc(8 * PAGE)); // truncates underneath the mapping
  await t.rejects(region.collect(), { code: 'SALVOR_SHRUNK' }, 'a shrunk file is an error, not a SIGBUS');
  region.close();

  const busy = await openRegion({ size: 4096 * PAGE, backend: 'hash' });
  const kept = busy.buffer;
  kept.fill(7);
  const round = busy.collect();
  busy.close();
  await t.rejects(round, { code: 'SALVOR_CLOSED' }, 'a round in flight when the region closes rejects');
  await t.rejects(busy.collect(), { code: 'SALVOR_CLOSED' });
  t.throws(() => busy.buffer, { code: 'SALVOR_CLOSED' }, 'no new buffer after close');
  kept[12345] = 1; // a buffer taken before close stays harmless memory: zeros, writable, no fault
  t.equal(kept[0], 0, 'a buffer from before close reads zeros afterwards');

  const writing = await openRegion({ size: 64 * PAGE, backend: 'mprotect' }).catch(() => openRegion({ size: 64 * PAGE }));
  const native = (writing as unknown as { memory: { handle: { native: object } } }).memory.handle.native;
  const stop = addon().startWriteLoad(native, 9, 8);
  await writing.collect();
  writing.close(); // a native thread is still writing: it keeps the memory alive until it stops
  await new Promise((r) => setTimeout(r, 20));
  t.ok(stop() > 0, 'close with writes in flight: the writer ran on and stopped cleanly');
});

for (const kind of KINDS) {
  t.test(`${kind}: collectPages() snapshots what it reports; a page changed back after the copy is still seen`, async (t) => {
    const region = await openOrSkip(t, kind, { size: 32 * PAGE });
    if (!region) return;
    const buf = region.buffer;
    buf[5 * PAGE + 1] = 1; // X
    const first = await region.collect();
    t.same(first, [{ first: 5, count: 1 }]);
    buf[5 * PAGE + 1] = 2; // Y, written after the round's scan, before the copy
    const staged = await region.collectPages(); // reports page 5 for fault trackers (written again), copies Y
    // Every kind reports page 5: the hash sees Y != X, a fault-based tracker saw the write of Y.
    t.same(staged.runs, [{ first: 5, count: 1 }], 'the write of Y is reported');
    t.equal(staged.pages.length, runPagesOf(staged.runs) * PAGE, 'the copy holds every reported page');
    t.equal(staged.pages[1], 2, 'the copy holds Y');
    buf[5 * PAGE + 1] = 1; // back to X: the consumer holds Y, so this must be reported
    const again = await region.collectPages();
    t.same(again.runs, [{ first: 5, count: 1 }], 'the change back is reported');
    t.equal(again.pages[1], 1);
    t.same((await region.collectPages()).runs, [], 'then nothing');
    region.close();
  });
}

function runPagesOf(runs: PageRun[]): number {
  return runs.reduce((n, r) => n + r.count, 0);
}

t.test('hash: the copy taken by stage is what the tracker remembers (a change back after the scan is seen)', async (t) => {
  const region = await openRegion({ size: 8 * PAGE, backend: 'hash' });
  const memory = (region as unknown as { memory: import('../../lib/replication/dirty-tracker').TrackedMemory }).memory;
  const buf = region.buffer;
  buf[1] = 1; // X
  const runs = await memory.collect('hash'); // the scan fingerprints X
  buf[1] = 2; // Y lands after the scan, before the consumer's copy
  const copy = await memory.stage(runs);
  t.equal(copy[1], 2, 'the consumer holds Y');
  buf[1] = 1; // back to X
  t.same(await memory.collect('hash'), [{ first: 0, count: 1 }], 'reported: the consumer holds Y, the page holds X');

  buf[1] = 3;
  await memory.collect('hash'); // fingerprints Z
  buf[1] = 4;
  buf[1] = 3; // Y' and back, with a plain copy in between: nothing can notice
  t.same(await memory.collect('hash'), [], 'without stage, a plain copy taken in between would be stale (why replication uses collectPages)');
  region.close();
});

t.test('mprotect: more scattered written pages than the kernel allows mappings (vm.max_map_count) loses nothing', async (t) => {
  const limit = Number(readFileSync('/proc/sys/vm/max_map_count', 'utf8'));
  const pages = Math.min(2 * limit + 4096, 1 << 18);
  if (pages <= 2 * limit) {
    t.skip(`vm.max_map_count is ${limit}: a region of ${pages} pages cannot exceed it`);
    return;
  }
  const region = await openOrSkip(t, 'mprotect', { size: pages * PAGE });
  if (!region) return;
  const buf = region.buffer;
  for (let round = 1; round <= 2; round++) {
    for (let p = 0; p < pages; p += 2) buf[p * PAGE] = round; // every other page: one mapping each, past the limit
    const runs = await region.collect();
    const reported = new Set<number>();
    for (const r of runs) for (let p = r.first; p < r.first + r.count; p++) reported.add(p);
    let missing = 0;
    for (let p = 0; p < pages; p += 2) if (!reported.has(p)) missing++;
    t.equal(missing, 0, `round ${round}: every written page reported (${reported.size} reported, the region fell back to whole-region protection)`);
  }
  region.close();
});

t.test('mprotect: closing while a native writer keeps faulting never crashes (200 times)', async (t) => {
  const Region = addon().Region;
  let attached = true;
  for (let i = 0; i < 200 && attached; i++) {
    const r = new Region(64 * PAGE);
    try {
      r.attach('mprotect');
    } catch (err) {
      attached = false;
      t.skip(`mprotect cannot attach here: ${(err as Error).message}`);
      r.close();
      break;
    }
    await r.arm('mprotect');
    const stop = addon().startWriteLoad(r, i + 1, 8);
    await r.collect('mprotect');
    r.close(); // a write that faulted just before the range became writable again is let through
    await new Promise((res) => setTimeout(res, 1));
    stop();
  }
  if (attached) t.pass('the process survived every close under writes');
});

t.test('mprotect: switched away and back while a native thread writes, no write is lost', async (t) => {
  const region = await openOrSkip(t, 'mprotect', { size: 128 * PAGE });
  if (!region) return;
  const native = (region as unknown as { memory: { handle: { native: object } } }).memory.handle.native;
  const shadow = Buffer.alloc(region.size);
  const stop = addon().startWriteLoad(native, 5, 4);
  // Each switch detaches a tracker while the writer faults on its pages; a fault that reaches the
  // handler after the detach must be let through, and the next tracker must see every later write.
  for (let i = 0; i < 40; i++) {
    await region.setBackend(i % 2 === 0 ? 'hash' : 'mprotect');
    applyPages(await region.collectPages(), shadow);
  }
  t.ok(stop() > 0, 'the writer ran throughout');
  applyPages(await region.collectPages(), shadow);
  t.ok(shadow.equals(region.buffer), 'the shadow built from the rounds equals the region');
  region.close();
});

t.test('mprotect: a new region at the address of a closed one records its own writes', async (t) => {
  // The closed region's range leaves the fault table when its memory is unmapped, so the new
  // mapping (often at the same address) is never let through as if it were the old one.
  let missed = 0;
  for (let i = 0; i < 20; i++) {
    const old = await openOrSkip(t, 'mprotect', { size: 64 * PAGE });
    if (!old) return;
    old.close();
    const fresh = await openRegion({ size: 64 * PAGE, backend: 'mprotect' });
    fresh.buffer[3 * PAGE + 1] = 1 + i;
    if (JSON.stringify(await fresh.collect()) !== JSON.stringify([{ first: 3, count: 1 }])) missed++;
    fresh.close();
  }
  t.equal(missed, 0, 'every write to the new region is reported');
  const many: TrackedRegion[] = [];
  for (let i = 0; i < 600; i++) {
    const r = await openRegion({ size: 4 * PAGE, backend: 'mprotect' });
    r.close(); // never given out as a Buffer: unmapped now, so its slot in the fault table is free again
    many.push(r);
  }
  t.equal(many.length, 600, 'more regions than the fault table holds, one after another');
});

handles.check(t);
