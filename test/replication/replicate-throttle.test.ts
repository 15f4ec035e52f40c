import t from 'tap';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { openRegion } from '../../index';
import { Primary, type ReplicationEvent } from '../../lib/replication/primary';
import { ReplicaStore } from '../../lib/replication/replica-store';
import { Standby } from '../../lib/replication/standby';
import type { Link, Listener } from '../../lib/transport/link';
import { MemoryListener } from '../../platform/sim/memory-link';

// Auto-converge: an in-process writer that dirties pages faster than the link carries them. Without a
// throttle the join is abandoned (not-converging); with one, the primary asks the writer to pause a
// growing fraction of its time until the join converges, then lets it run at full speed again.

const dir = mkdtempSync(join(tmpdir(), 'salvor-throttle-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const PAGE = 4096;
const PAGES = 4096;
/**
 * The link carries 64 MiB/s (16 pages a millisecond); the writer dirties 400 random pages a 2 ms tick
 * (200 pages a millisecond; still 40 when a busy machine runs its timer at 100 Hz): every page is
 * written again long before the link has carried the 16 MiB region once.
 */
const LINK_BYTES_PER_MS = 64 * 1024;
const WRITES_PER_TICK = 400;

/** The primary's ends of the links are slow: send() takes as long as the bytes need at the link's rate. */
function slowListener(inner: MemoryListener): Listener {
  return {
    url: inner.url,
    onLink: (handler) =>
      inner.onLink((link) => {
        let free = Date.now();
        const slow: Link = {
          url: link.url,
          peer: link.peer,
          get bytesOnWire() {
            return link.bytesOnWire;
          },
          // Holds the payload until it has 'left', as a real medium may: a sender must not reuse it before.
          async send(type, payload, epoch) {
            free = Math.max(free, Date.now()) + payload.length / LINK_BYTES_PER_MS;
            await sleep(Math.max(0, free - Date.now()));
            return link.send(type, payload, epoch);
          },
          onFrame: (h) => link.onFrame(h),
          onClose: (h) => link.onClose(h),
          close: () => link.close(),
        };
        handler(slow);
      }),
    close: () => inner.close(),
  };
}

async function joinUnderWrites(name: string, throttled: boolean, obeys = true) {
  const region = await openRegion({ size: PAGES * PAGE });
  const buf = region.buffer;
  const memory = new MemoryListener();
  const pev: ReplicationEvent[] = [];
  const sev: ReplicationEvent[] = [];
  const pauses: number[] = [];
  let pause = 0;
  let credit = 0;
  const primary = await Primary.start({
    region,
    listener: slowListener(memory),
    identity: 'p',
    term: 1n,
    ackMode: 'received',
    intervalMs: 20,
    maxDowntimeMs: 20,
    maxRounds: 6,
    emit: (e) => pev.push(e),
    ...(throttled ? { throttle: (f: number) => (pauses.push(f), (pause = obeys ? f : 0)) } : {}),
  });
  // The writer: WRITES_PER_TICK random pages a tick, of which it skips the paused fraction (deterministically).
  const writer = setInterval(() => {
    credit += WRITES_PER_TICK * (1 - pause);
    for (; credit >= 1; credit--) buf[Math.floor(Math.random() * PAGES) * PAGE + Math.floor(Math.random() * PAGE)]! ^= 0x5a;
  }, 2);
  const replicaPath = join(dir, `${name}.bin`);
  const replica = await ReplicaStore.open(replicaPath);
  const standby = new Standby({ connect: () => memory.connect(), replica, identity: name, intervalMs: 20, timeoutMs: 3000, emit: (e) => sev.push(e) });
  const running = standby.run();
  const started = Date.now();
  while (Date.now() - started < 20000 && !pev.some((e) => e.event === 'in-sync' || e.event === 'not-converging')) await sleep(10);
  clearInterval(writer);
  const finish = async () => {
    await standby.stop();
    await running;
    await replica.close();
    await primary.stop();
    region.close();
  };
  return { pev, sev, pauses, primary, buf, replicaPath, finish };
}

t.test('without a throttle, a writer faster than the link: not-converging', async (t) => {
  const r = await joinUnderWrites('plain', false);
  t.ok(r.pev.some((e) => e.event === 'not-converging'), 'the join is abandoned');
  t.notOk(r.pev.some((e) => e.event === 'in-sync'), 'and never in sync');
  t.notOk(r.pev.some((e) => e.event === 'throttle'), 'nothing to throttle');
  await r.finish();
});

t.test('with a throttle, the same writer is slowed until the join converges, then released', async (t) => {
  const r = await joinUnderWrites('throttled', true);
  t.ok(r.pev.some((e) => e.event === 'in-sync'), `the join converges (events: ${[...new Set(r.pev.map((e) => e.event))].join(',')})`);
  t.notOk(r.pev.some((e) => e.event === 'not-converging'), 'and is not abandoned');
  t.ok(r.pauses.length >= 2, `the writer was asked to pause (${r.pauses.join(', ')})`);
  t.equal(r.pauses[0], 0.2, 'first by 20 %');
  const growing = r.pauses.slice(0, -1);
  t.ok(growing.every((f, i) => i === 0 || f > growing[i - 1]!), 'then more, while rounds stayed stalled');
  t.equal(r.pauses[r.pauses.length - 1], 0, 'and let go (0) once in sync');
  t.ok(r.pev.some((e) => e.event === 'throttle' && e.pauseFraction === 0), 'the release is reported');
  // With the writer stopped, one more acked epoch makes the replica equal the region.
  const after = r.primary.epoch + 1;
  const started = Date.now();
  while (Date.now() - started < 5000 && !r.sev.some((e) => e.event === 'epoch' && (e.epoch as number) > after)) await sleep(10);
  t.ok(readFileSync(r.replicaPath).equals(r.buf), 'the replica equals the region');
  await r.finish();
});

t.test('a writer that ignores the throttle: the pause goes to its maximum, then not-converging, then 0', async (t) => {
  const r = await joinUnderWrites('deaf', true, false);
  t.ok(r.pev.some((e) => e.event === 'not-converging'), 'abandoned after all');
  t.ok(r.pauses.includes(0.99), `the pause reached 0.99 first (${r.pauses.join(', ')})`);
  t.equal(r.pauses[r.pauses.length - 1], 0, 'the writer is let go when the join is abandoned');
  await r.finish();
});
