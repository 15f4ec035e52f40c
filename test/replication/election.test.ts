import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openRegion } from '../../index';
import type { ReplicationEvent } from '../../lib/replication/primary';
import { runPrimary } from '../../lib/replication/replicate-runner';
import { tcpTransport } from '../../platform/linux/transport-tcp';
import { nextUrl } from './replicate-helpers';

// Two standbys promoted at once with the same term: the one whose replica holds the later epoch
// serves, whichever bound the address first; the other demotes and (in the CLI) follows it.

const link = { psk: Buffer.from('election test pre-shared key, 32b'), identity: 'election', timeoutMs: 1000 };

function node(t: { teardown(fn: () => void): void }, name: string, url: string, startEpoch: number) {
  const dir = mkdtempSync(join(tmpdir(), `salvor-election-${name}-`));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const region = join(dir, 'region.bin');
  writeFileSync(region, Buffer.alloc(16 * 4096, startEpoch));
  const events: ReplicationEvent[] = [];
  let stop!: () => void;
  const stopped = new Promise<void>((r) => (stop = r));
  const run = runPrimary(
    { region, listen: [url], ackMode: 'received', maxDowntimeMs: 300, maxRounds: 30, link, startEpoch, term: 7n },
    { stateDir: join(dir, 'state'), intervalMs: 50, timeoutMs: 1000, identity: name, openRegion: (path) => openRegion({ path }), stop: stopped },
    [tcpTransport],
    (e) => events.push(e),
  );
  return { run, events, stop, serving: () => events.some((e) => e.event === 'serving') };
}

async function until(pred: () => boolean, ms = 10000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

t.test('the node that bound first started from an earlier epoch: it gives the address up', async (t) => {
  const url = nextUrl();
  const early = node(t, 'early', url, 10);
  await until(early.serving);
  const later = node(t, 'later', url, 12);
  t.teardown(() => later.stop());
  t.equal(await early.run, 'demoted', 'the node holding epoch 10 demotes');
  const demoted = early.events.find((e) => e.event === 'demoted')!;
  t.match(demoted.reason, /holds epoch 12, later than the 10/, 'and says why');
  await until(later.serving);
  t.notOk(later.events.some((e) => e.event === 'demoted'), 'the node holding epoch 12 serves');
  later.stop();
  t.equal(await later.run, 'stopped');
});

t.test('the node that bound first holds the later epoch: the newcomer yields', async (t) => {
  const url = nextUrl();
  const first = node(t, 'first', url, 12);
  await until(first.serving);
  const second = node(t, 'second', url, 10);
  t.equal(await second.run, 'demoted', 'the node holding epoch 10 does not serve');
  t.notOk(second.serving(), 'it never bound the address');
  t.match(second.events.find((e) => e.event === 'demoted')!.reason, /epoch at least ours/);
  t.notOk(first.events.some((e) => e.event === 'demoted'), 'the node holding epoch 12 keeps serving');
  first.stop();
  t.equal(await first.run, 'stopped');
});
