import t from 'tap';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openRegion } from '../../index';
import { Primary, type ReplicationEvent } from '../../lib/replication/primary';
import { ReplicaStore } from '../../lib/replication/replica-store';
import { Standby } from '../../lib/replication/standby';
import { MemoryListener } from '../../platform/sim/memory-link';

// The replication protocol end to end in one process, over in-memory links: join while a writer runs,
// steady epochs, a standby that rejoins with a partial resync, and promotion when the primary goes.

const dir = mkdtempSync(join(tmpdir(), 'salvor-repl-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const PAGE = 4096;

function waitFor(events: ReplicationEvent[], pred: (e: ReplicationEvent) => boolean, ms = 10000): Promise<ReplicationEvent> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const poll = setInterval(() => {
      const hit = events.find(pred);
      if (hit) {
        clearInterval(poll);
        resolve(hit);
      } else if (Date.now() - started > ms) {
        clearInterval(poll);
        reject(new Error(`timed out waiting; events: ${events.map((e) => e.event).join(',')}`));
      }
    }, 5);
  });
}

t.test('join under writes, steady epochs, replica equals the region', async (t) => {
  const region = await openRegion({ size: 1024 * PAGE });
  const buf = region.buffer;
  for (let i = 0; i < buf.length; i += 512) buf[i] = i & 0xff;
  const listener = new MemoryListener();
  const pev: ReplicationEvent[] = [];
  const sev: ReplicationEvent[] = [];
  const primary = await Primary.start({ region, listener, identity: 'p1', term: 1n, ackMode: 'persisted', intervalMs: 20, emit: (e) => pev.push(e) });
  const writer = setInterval(() => {
    for (let k = 0; k < 20; k++) buf[Math.floor(Math.random() * buf.length)] = Math.floor(Math.random() * 256);
  }, 2);
  const replicaPath = join(dir, 'replica.bin');
  const replica = await ReplicaStore.open(replicaPath);
  const standby = new Standby({ connect: () => listener.connect(), replica, identity: 's1', intervalMs: 20, emit: (e) => sev.push(e) });
  const running = standby.run();
  await waitFor(sev, (e) => e.event === 'in-sync');
  clearInterval(writer);
  const last = primary.epoch + 1;
  await waitFor(sev, (e) => e.event === 'epoch' && (e.epoch as number) > last && e.acked === true);
  await waitFor(pev, (e) => e.event === 'epoch' && (e.epoch as number) > last && e.acked === true);
  t.ok(pev.some((e) => e.event === 'joined' && e.plan === 'full'), 'the primary saw the standby join with a full copy');
  t.ok(pev.some((e) => e.event === 'round'), 'join rounds reported');
  t.ok(readFileSync(replicaPath).equals(buf), 'after in-sync and one more acked epoch with the writer stopped, the replica equals the region');
  const meta = JSON.parse(readFileSync(`${replicaPath}.meta.json`, 'utf8'));
  t.equal(meta.synced, true);

  // The standby goes away mid-stream; the primary keeps going and drops it after the timeout.
  await standby.stop();
  t.equal(await running, 'stopped');
  await replica.close();
  for (let k = 0; k < 30; k++) buf[k * 7 * PAGE] ^= 0xff; // a few pages change while it is away
  await waitFor(pev, (e) => e.event === 'standby-gone' || e.event === 'standby-lost');

  const replica2 = await ReplicaStore.open(replicaPath);
  const sev2: ReplicationEvent[] = [];
  const standby2 = new Standby({ connect: () => listener.connect(), replica: replica2, identity: 's1', intervalMs: 20, emit: (e) => sev2.push(e) });
  const running2 = standby2.run();
  const joined = await waitFor(sev2, (e) => e.event === 'joined');
  t.equal(joined.plan, 'partial', 'the rejoin compares page hashes');
  t.ok((joined.pagesToSend as number) < 1024 / 4, `only the changed pages travel (${joined.pagesToSend as number})`);
  const after = primary.epoch + 1;
  await waitFor(sev2, (e) => e.event === 'epoch' && (e.epoch as number) > after);
  t.ok(readFileSync(replicaPath).equals(buf), 'equal again after the partial resync');

  // The primary goes: the standby promotes after the timeout.
  const silentSince = Date.now();
  await primary.stop();
  t.equal(await running2, 'promote', 'a synced standby promotes when the primary is gone');
  t.ok(Date.now() - silentSince >= 900, 'only after the timeout');
  t.ok(standby2.highestTerm >= 1n);
  await replica2.close();
  region.close();
});

t.test('a rejoin that finds every page equal is in sync at its first epoch', async (t) => {
  const region = await openRegion({ size: 64 * PAGE });
  region.buffer.fill(3);
  const listener = new MemoryListener();
  const pev: ReplicationEvent[] = [];
  const primary = await Primary.start({ region, listener, identity: 'p', term: 1n, ackMode: 'received', intervalMs: 20, emit: (e) => pev.push(e) });
  const path = join(dir, 'equal.bin');
  for (const round of [1, 2]) {
    const replica = await ReplicaStore.open(path);
    const sev: ReplicationEvent[] = [];
    const standby = new Standby({ connect: () => listener.connect(), replica, identity: `s${round}`, intervalMs: 20, emit: (e) => sev.push(e) });
    const running = standby.run();
    const joined = await waitFor(sev, (e) => e.event === 'joined');
    t.equal(joined.plan, round === 1 ? 'full' : 'partial');
    if (round === 2) t.equal(joined.pagesToSend, 0, 'nothing differs');
    await waitFor(sev, (e) => e.event === 'in-sync', 2000);
    await standby.stop();
    await running;
    await replica.close();
  }
  t.notOk(pev.some((e) => e.event === 'not-converging'), 'no stalled join');
  await primary.stop();
  region.close();
});

t.test('a standby that has not reached a primary since it started does not promote', async (t) => {
  const path = join(dir, 'equal.bin'); // synced by the test above
  const replica = await ReplicaStore.open(path);
  t.equal(replica.meta?.synced, true, 'the replica is a whole state');
  const sev: ReplicationEvent[] = [];
  const nobody = new MemoryListener();
  await nobody.close();
  const standby = new Standby({ connect: () => nobody.connect(), replica, identity: 'alone', intervalMs: 20, timeoutMs: 200, emit: (e) => sev.push(e) });
  const running = standby.run();
  await new Promise((r) => setTimeout(r, 700));
  t.ok(sev.some((e) => e.event === 'primary-unreachable'), 'it reports the primary unreachable');
  await standby.stop();
  t.equal(await running, 'stopped', 'and never promoted');
  await replica.close();
});
