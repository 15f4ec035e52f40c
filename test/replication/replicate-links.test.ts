import t from 'tap';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { openPtyPair } from '../../platform/linux/pty-pair';
import { agent, nextUrl, servingPrimary } from './replicate-helpers';

// Heartbeats on every configured link: a primary serving on TCP and on a serial line (a pty pair), a
// standby with its data on TCP (through a proxy the test can cut) and a heartbeat link on the serial
// line. Cutting TCP alone must not promote the standby; losing the primary on every link must.

const PAGES = 64;
const TIMEOUT = 1500;
const fast = ['--interval', '100', '--timeout', String(TIMEOUT)];

/** A TCP forwarder from a local port to `target`; stop() closes it and every connection through it. */
function proxy(port: number, target: number): Promise<{ stop(): void }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((inbound) => {
    const outbound = connect(target, '127.0.0.1');
    for (const s of [inbound, outbound]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => sockets.delete(s));
    }
    inbound.pipe(outbound).pipe(inbound);
    inbound.on('close', () => outbound.destroy());
    outbound.on('close', () => inbound.destroy());
  });
  return new Promise((resolve) =>
    server.listen(port, '127.0.0.1', () =>
      resolve({
        stop() {
          server.close();
          for (const s of sockets) s.destroy();
        },
      }),
    ),
  );
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

t.test('TCP data link and serial heartbeat link: a cut TCP path does not promote, a dead primary does', async (t) => {
  const pty = await openPtyPair();
  t.teardown(() => pty.close());
  const primaryUrl = nextUrl();
  const proxyPort = Number(new URL(nextUrl()).port);
  const { w, primary } = await servingPrimary(t, PAGES, primaryUrl, ['--listen', `serial://${pty.a}?baud=4000000`, ...fast]);
  const serving = primary.events.find((e) => e.event === 'serving')!;
  t.equal((serving.urls as string[]).length, 2, 'the primary serves on both links');
  let cut = await proxy(proxyPort, Number(new URL(primaryUrl).port));
  t.teardown(() => cut.stop());

  const replica = join(w.dir, 'replica.bin');
  const args = ['standby', '--connect', `tcp://127.0.0.1:${proxyPort}`, '--connect', `serial://${pty.b}?baud=4000000`, '--replica', replica, '--psk-file', w.psk, ...fast];
  const standby = agent(args, join(w.dir, 's'));
  t.teardown(() => standby.proc.kill('SIGKILL'));
  await standby.waitFor((e) => e.event === 'in-sync', 30000);
  const joined = standby.events.find((e) => e.event === 'joined')!;
  const progress = standby.events.find((e) => e.event === 'progress')!;
  t.ok(Number(progress.pages) >= Number(joined.pagesToSend) && Number(progress.of) >= Number(joined.pagesToSend), `the join reports its progress: ${progress.pages} of ${progress.of} pages, ${joined.pagesToSend} announced`);
  t.ok(standby.events.indexOf(progress) < standby.events.findIndex((e) => e.event === 'in-sync'), 'before in-sync');
  await standby.waitFor((e) => e.event === 'link-up' && e.role === 'heartbeat', 15000);
  await primary.waitFor((e) => e.event === 'link-up' && e.role === 'heartbeat');

  // Cut the TCP path only: the serial line still hears the primary.
  cut.stop();
  const down = await standby.waitFor((e) => e.event === 'link-down' && e.role === 'data', 10000);
  t.ok(Number(down.primaryHeardMsAgo) < TIMEOUT, 'the standby reports the data link down while the heartbeat link hears the primary');
  await sleep(3 * TIMEOUT);
  t.notOk(
    standby.events.some((e) => e.event === 'failover'),
    `no promotion in ${3 * TIMEOUT} ms without the data link while the heartbeat link is alive`,
  );
  t.notOk(primary.events.some((e) => e.event === 'demoted'), 'the primary was never demoted');

  // Heal it: the standby rejoins with a partial resync and is in sync again.
  cut = await proxy(proxyPort, Number(new URL(primaryUrl).port));
  const rejoin = await standby.waitFor((e) => e.event === 'joined' && standby.events.filter((x) => x.event === 'joined').indexOf(e) === 1, 15000);
  t.equal(rejoin.plan, 'partial', 'the rejoin after the cut is a partial resync');
  await standby.waitFor((e) => e.event === 'in-sync' && standby.events.filter((x) => x.event === 'in-sync').indexOf(e) === 1, 15000);

  // Now the primary dies: every link goes silent, and the standby promotes.
  const killedAt = Date.now();
  primary.proc.kill('SIGKILL');
  cut.stop(); // the proxy stood in for the primary's host: its address is free for the takeover
  const failover = await standby.waitFor((e) => e.event === 'failover', 20000);
  t.ok(Date.now() - killedAt >= TIMEOUT - 200, 'the promotion waited for the timeout');
  t.ok(BigInt(failover.term as string) > BigInt(serving.term as string), 'with a term above the old primary');
  const served = await standby.waitFor((e) => e.event === 'serving', 15000);
  t.equal((served.urls as string[]).length, 2, 'the promoted node serves on both links');
});
