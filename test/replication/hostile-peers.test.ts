import t from 'tap';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { decodeMessage, encodeMessage, Msg, type EpochEnd, type Hello } from '../../lib/replication/protocol';
import { readStatus } from '../../lib/replication/replicate-runner';
import { linkFaultsFromEnv } from '../../lib/transport/link-faults';
import { tcpTransport } from '../../platform/linux/transport-tcp';
import { checkFileLeavesNoHandles } from '../transport/open-handles';
import { KEY, primaryNode, servingUrl, standbyNode, tempDir } from './in-process-nodes';

// Replication against peers that misbehave or are missing, in one process over real TLS on loopback.

checkFileLeavesNoHandles(t);

t.test('a 14 MiB hello from a peer holding the key is refused from its frame header; the real standby stays in sync', async (t) => {
  const dir = tempDir(t, 'hostile-hello');
  const transportLog: Record<string, unknown>[] = [];
  const p = primaryNode(t, dir, 256, { link: { log: (l) => transportLog.push(l) } });
  const url = await servingUrl(p);
  const s = standbyNode(t, dir, url, join(dir, 'replica.bin'));
  await s.waitFor((e) => e.event === 'in-sync');
  const hostile = await tcpTransport.connect(new URL(url), { psk: KEY, identity: 'hostile', timeoutMs: 2000 });
  const closed = new Promise<Error | undefined>((resolve) => hostile.onClose(resolve));
  const big = Buffer.alloc(14 * 1024 * 1024);
  void hostile.send(Msg.hello, big, 1n).catch(() => undefined);
  await closed;
  await hostile.close();
  const failed = transportLog.find((l) => l.event === 'link-failed');
  t.match(failed, { code: 'SALVOR_BAD_FRAME', reason: /payload length 14680064 over the \d+-byte limit for frame type 0x01/ }, 'the primary closed the link on the header');
  const at = p.events.filter((e) => e.event === 'epoch').length;
  await p.waitFor((e) => e.event === 'epoch' && e.acked === true && p.events.indexOf(e) > at + 2);
  t.notOk(p.events.some((e) => (e.event === 'standby-lost' || e.event === 'standby-gone') && e.standby === 's'), 'the real standby was never dropped');
});

t.test('under SALVOR_LINK_FAULT=drop=0.01 a pair converges: each link draws its own faults, in-sync only for an epoch the standby committed', async (t) => {
  process.env.SALVOR_LINK_FAULT = 'drop=0.01,seed=1';
  t.teardown(() => void delete process.env.SALVOR_LINK_FAULT);
  const a = linkFaultsFromEnv()!;
  const b = linkFaultsFromEnv()!;
  const draws = (f: typeof a) => Array.from({ length: 64 }, () => f.random());
  t.notSame(draws(a), draws(b), 'two links of one process draw different faults');
  const dir = tempDir(t, 'drop');
  const p = primaryNode(t, dir, 256);
  const s = standbyNode(t, dir, await servingUrl(p), join(dir, 'replica.bin'));
  await s.waitFor((e) => e.event === 'in-sync', 60000);
  const synced = await p.waitFor((e) => e.event === 'in-sync', 10000);
  const committed = new Set(s.events.filter((e) => e.event === 'epoch' && e.committed === true).map((e) => Number(e.epoch)));
  const claims = p.events.filter((e) => e.event === 'in-sync').map((e) => Number(e.epoch));
  t.ok(claims.every((epoch) => committed.has(epoch)), `every in-sync the primary reported (${claims.join(', ')}) is an epoch the standby committed (${[...committed].slice(0, 20).join(', ')})`);
  t.ok(Number(synced.epoch) > 0);
});

t.test('a standby that never commits the final epoch of its join is not reported in sync', async (t) => {
  const dir = tempDir(t, 'no-commit');
  const p = primaryNode(t, dir, 16);
  const link = await tcpTransport.connect(new URL(await servingUrl(p)), { psk: KEY, identity: 'mute', timeoutMs: 2000 });
  t.teardown(() => link.close());
  const final = new Promise<void>((resolve) =>
    link.onFrame((f) => {
      if (f.type === Msg.epochEnd && !decodeMessage<EpochEnd>(f.payload).header.joining) resolve();
    }),
  );
  const hello: Hello = { identity: 'mute', capabilities: ['page-delta-v1'], heldEpoch: 0, heldTerm: '0', regionSize: 0, pageSize: 0, hashes: false };
  await link.send(Msg.hello, encodeMessage(hello), 0n);
  await final; // the whole state has been sent; this standby never says it committed it
  await sleep(200); // a primary that calls it in sync does so when it sends that epoch, before this arrives
  t.notOk(p.events.some((e) => e.event === 'in-sync'), 'no in-sync for it');
});

t.test('no primary there: retries back off to a cap with jitter, naming the cause', async (t) => {
  const dir = tempDir(t, 'nobody');
  const closedPort = await (async () => {
    const l = await tcpTransport.listen(new URL('tcp://127.0.0.1:0'), { psk: KEY });
    const port = new URL(l.url).port;
    await l.close();
    return port;
  })();
  const s = standbyNode(t, dir, `tcp://127.0.0.1:${closedPort}`, join(dir, 'replica.bin'));
  await sleep(3000);
  await s.stop();
  const tries = s.events.filter((e) => e.event === 'primary-unreachable');
  t.ok(tries.length >= 3 && tries.length <= 12, `${tries.length} attempts in 3 s (they were 250 before backoff reached a cap)`);
  t.ok(tries.every((e) => e.cause === 'connection-refused'), 'each one: connection refused, not a handshake refusal');
  const waits = tries.map((e) => Number(e.retryInMs));
  t.ok(waits.at(-1)! >= 500 && Math.max(...waits) <= 1000, `the waits grow to the 1 s cap, jittered: ${waits.join(', ')}`);
});

t.test('a wrong key ends the standby with SALVOR_AUTH after three refusals; the primary saw no join', async (t) => {
  const dir = tempDir(t, 'wrong-key');
  const p = primaryNode(t, dir, 64);
  const s = standbyNode(t, dir, await servingUrl(p), join(dir, 'replica.bin'), { link: { psk: Buffer.from('another key of enough length, 32b') } });
  await t.rejects(s.run, { code: 'SALVOR_AUTH', message: /refused this node's key or certificate 3 times in a row/ });
  t.match(s.events.filter((e) => e.event === 'primary-unreachable'), [{ cause: 'handshake-refused' }, { cause: 'handshake-refused' }], 'each refusal named as one');
  t.notOk(p.events.some((e) => e.event === 'joined'), 'the primary never saw a join');
});

t.test('a replica path that cannot be written ends the standby before it contacts the primary', async (t) => {
  const dir = tempDir(t, 'bad-replica');
  const p = primaryNode(t, dir, 64);
  const s = standbyNode(t, dir, await servingUrl(p), '/nonexistent/dir/r.bin');
  await t.rejects(s.run, { code: 'ENOENT', message: /replica \/nonexistent\/dir\/r\.bin: cannot be created or written/ });
  await sleep(200);
  t.notOk(p.events.some((e) => e.event === 'joined' || e.event === 'standby-gone'), 'the primary saw no join');
});

t.test('an existing file that is not a replica is refused unless forced; replicas are 0600', async (t) => {
  const dir = tempDir(t, 'not-a-replica');
  const p = primaryNode(t, dir, 64);
  const url = await servingUrl(p);
  const victim = join(dir, 'notes.txt');
  writeFileSync(victim, 'my notes', { mode: 0o644 });
  const refused = standbyNode(t, dir, url, victim);
  await t.rejects(refused.run, { code: 'SALVOR_BAD_INPUT', message: /an existing file of 8 bytes that is not a replica .*--force/ });
  t.equal(readFileSync(victim, 'utf8'), 'my notes', 'the file is untouched');
  const forced = standbyNode(t, dir, url, victim, { force: true, identity: 'forced' });
  await forced.waitFor((e) => e.event === 'in-sync');
  t.equal(statSync(victim).size, 64 * 4096, 'with --force it became the replica');
  t.equal(statSync(victim).mode & 0o777, 0o600, 'mode 0600');
  const fresh = join(dir, 'fresh.bin');
  const created = standbyNode(t, dir, url, fresh, { identity: 'fresh' });
  await created.waitFor((e) => e.event === 'in-sync');
  t.equal(statSync(fresh).mode & 0o777, 0o600, 'a new replica is 0600');
});

t.test('failover on one host: the promoted standby serves exactly the primary\'s address, never probes itself, and status shows one role', async (t) => {
  const dir = tempDir(t, 'one-host');
  const p = primaryNode(t, dir, 64);
  const url = await servingUrl(p);
  const transportLog: Record<string, unknown>[] = [];
  const s = standbyNode(t, dir, url, join(dir, 'replica.bin'), { identity: 'standby-1', link: { log: (l) => transportLog.push(l) } });
  await s.waitFor((e) => e.event === 'in-sync');
  await p.stop();
  const serving = await s.waitFor((e) => e.event === 'serving');
  t.same(serving.urls, [url], `serves ${url} only (the primary listened on 127.0.0.1, not every address)`);
  await sleep(1500); // longer than a fencing interval
  const fromItself = transportLog.filter((l) => l.side === 'server' && l.identity === 'standby-1');
  t.same(fromItself, [], 'no connection from itself');
  const { nodes } = await readStatus(join(dir, 'standby-1'));
  t.same(
    nodes.filter((n) => n.pid === process.pid).map((n) => n.role),
    ['primary'],
    'status: this process once, as primary',
  );
});
