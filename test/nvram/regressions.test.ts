import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatNvram } from '../../lib/nvram/format';
import { openSalvorStore } from '../../lib/nvram/salvor-store';
import type { DeviceOpener } from '../../lib/nvram/device';
import { MemoryNvramDevice } from '../../platform/sim/memory-device';
import { decodeKv, encodeKv } from '../../lib/nvram/kv-codec';
import { withFaults } from '../../platform/sim/faulty-device';

// Failures found by review, each pinned by the smallest reproduction.

const stateDir = mkdtempSync(join(tmpdir(), 'salvor-regress-'));
t.teardown(() => rmSync(stateDir, { recursive: true, force: true }));
const PATH = '/salvor-test/regress.nvram';
const B = 256;
const opener = (bytes: Buffer): DeviceOpener => async () => new MemoryNvramDevice(PATH, bytes);
const str = (value: string) => ({ type: 'string' as const, value });

async function imageWith(keys: Record<string, string>): Promise<Buffer> {
  const bytes = Buffer.alloc(8192);
  await formatNvram(PATH, opener(bytes), { size: 8192, sectorSize: B, stateDir });
  const s = await openSalvorStore(PATH, opener(bytes), { writable: true, stateDir });
  for (const [k, v] of Object.entries(keys)) await s.set(k, str(v));
  await s.close();
  return bytes;
}

async function listOf(bytes: Buffer): Promise<Record<string, string>> {
  const s = await openSalvorStore(PATH, opener(bytes), { writable: false, stateDir });
  const out = Object.fromEntries((await s.list()).map((e) => [e.key, String(e.value.value)]));
  await s.close();
  return out;
}

const keys = Object.fromEntries(Array.from({ length: 8 }, (_, i) => [`key1${i}`, `value-${i}-`.padEnd(40, 'v')]));

t.test('a spare range of valid but mixed old/new sectors rolls back, not forward', async (t) => {
  const old = await imageWith(keys);
  const next = Buffer.from(old);
  const s = await openSalvorStore(PATH, opener(next), { writable: true, stateDir });
  await s.set('aaa', str('z'.repeat(100))); // inserted first: shifts every entry, rewrites several sectors
  await s.close();
  const dataSectors = (8192 / B - 4) >> 1;
  const spareStart = 4 + dataSectors;
  // A cut that landed the new journal record and only the first spare sector of the range.
  const torn = Buffer.from(old);
  next.copy(torn, 2 * B, 2 * B, 3 * B);
  next.copy(torn, spareStart * B, spareStart * B, (spareStart + 1) * B);
  t.not(torn.subarray(spareStart * B, (spareStart + 1) * B).compare(old.subarray(spareStart * B, (spareStart + 1) * B)), 0, 'the spare sector changed');
  t.same(await listOf(torn), keys, 'a reader sees the old store');
  const fix = await openSalvorStore(PATH, opener(torn), { writable: true, stateDir });
  const r = await fix.recover();
  await fix.close();
  t.equal(r.journal, 'rolled-back');
  t.same(await listOf(torn), keys, 'recover keeps the old store');
});

t.test('a damaged journal record does not restart the sequence under a stale closed stamp', async (t) => {
  const bytes = await imageWith({ a: '1' });
  bytes[2 * B + 100] ^= 0xff; // the record of the last write is damaged; its stamps (sequence 1) remain
  const cut = await openSalvorStore(PATH, async () => withFaults(new MemoryNvramDevice(PATH, bytes), { cutAfterWrites: 2, seed: 1, mode: 'keep', onCut: 'throw' }), { writable: true, stateDir });
  await t.rejects(cut.set('b', str('2')), { code: 'SALVOR_POWER_CUT' });
  await cut.close();
  t.equal(bytes.readBigUInt64LE(2 * B + 8), 2n, 'the interrupted write took sequence 2, above the surviving stamps');
  const s = await openSalvorStore(PATH, opener(bytes), { writable: true, stateDir });
  const report = await s.check();
  t.equal(report.journal, 'roll-forward', 'check sees the interrupted write instead of a stale "closed"');
  await s.recover();
  t.ok((await s.check()).clean);
  await s.close();
  t.same(await listOf(bytes), { a: '1', b: '2' }, 'the complete spare range is rolled forward');
});

t.test('lost data sector 0 and its spare: entries in intact sectors survive', async (t) => {
  const bytes = await imageWith(keys);
  const dataSectors = (8192 / B - 4) >> 1;
  bytes[4 * B + 100] ^= 0xaa;
  bytes[(4 + dataSectors) * B + 100] ^= 0xaa;
  const s = await openSalvorStore(PATH, opener(bytes), { writable: true, stateDir });
  const r = await s.recover();
  await s.close();
  t.ok(r.clean, 'clean after recover');
  const after = await listOf(bytes);
  const survivors = Object.keys(after).filter((k) => after[k] === keys[k]);
  t.ok(survivors.length >= 3, `keys stored past sector 0 survive (${survivors.join(', ')})`);
});

t.test('the decoder reads past the used-bytes mark and counts it as damage', async (t) => {
  const full = encodeKv(Object.entries(keys).map(([key, v]) => ({ key, value: str(v) })), 4096);
  const shortHeader = Buffer.from(full);
  shortHeader.writeUInt32LE(0, 4); // a store header saying "empty", as the defaults' sector 0 would
  const d = decodeKv(shortHeader);
  t.equal(d.entries.length, 8, 'every entry is still found');
  t.ok(d.damaged > 0, 'and the store is marked damaged, so recover rewrites it');
  t.equal(decodeKv(full).damaged, 0, 'an intact blob has no damage');
});

t.test('memory device locks follow flock', async (t) => {
  const bytes = Buffer.alloc(4096);
  const a = new MemoryNvramDevice('m', bytes);
  const b = new MemoryNvramDevice('m', bytes);
  await a.lock(true, 0);
  await a.lock(true, 0);
  t.pass('the same handle may lock again');
  await t.rejects(b.lock(false, 30), { code: 'SALVOR_LOCKED' }, 'a second handle waits, then gives up');
  const waiting = b.lock(true, 1000);
  setTimeout(() => void a.close(), 20);
  await waiting;
  t.pass('the waiter gets the lock when the holder closes');
  await b.close();
});

t.test('CLI: malformed SALVOR_FAULT and malformed numbers are usage errors (16)', async (t) => {
  const { spawnSync } = await import('node:child_process');
  const cli = join(__dirname, '..', '..', 'dist', 'tools', 'salvor.js');
  const image = join(stateDir, 'cli.img');
  const run = (args: string[], env: Record<string, string> = {}) =>
    spawnSync(process.execPath, [cli, ...args], { env: { ...process.env, SALVOR_STATE_DIR: stateDir, ...env }, encoding: 'utf8' });
  t.equal(run(['nvram', 'format', '--device', image, '--size', '8K']).status, 0);
  const bogus = run(['nvram', 'check', '--device', image], { SALVOR_FAULT: 'bogus' });
  t.equal(bogus.status, 16, 'malformed SALVOR_FAULT');
  t.match(bogus.stderr, /SALVOR_FAULT/);
  t.equal(run(['nvram', 'check', '--device', image], { SALVOR_FAULT: 'nvram-cut:9:1:lose' }).status, 0, "the documented 'lose' mode is accepted");
  for (const args of [['--size', 'lots'], ['--size', '8K', '--sector-size', 'abc'], ['--size', '8K', '--lock-timeout', 'soon']]) {
    const r = run(['nvram', 'format', '--device', join(stateDir, 'x.img'), ...args]);
    t.equal(r.status, 16, `format ${args.join(' ')} exits 16`);
  }
});
