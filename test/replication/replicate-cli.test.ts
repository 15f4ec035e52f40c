import t from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { agent, CLI, converges, fileDigest, nextUrl, servingPrimary, workspace, writer } from './replicate-helpers';

// salvor replicate end to end: separate agent processes on loopback TCP with a pre-shared key.

const PAGES = 1024;
const fast = ['--interval', '50', '--timeout', '600'];

t.test('two and three agents: join under a writer, then byte-for-byte equal', async (t) => {
  const url = nextUrl();
  const { w, region, primary } = await servingPrimary(t, PAGES, url, fast);
  const load = writer(region, PAGES);
  t.teardown(() => load.kill('SIGKILL'));
  const standbys = [1, 2].map((i) => agent(['standby', '--connect', url, '--replica', join(w.dir, `replica${i}.bin`), '--psk-file', w.psk, '--identity', `s${i}`, ...fast], join(w.dir, `s${i}`)));
  for (const s of standbys) t.teardown(() => s.proc.kill('SIGKILL'));
  for (const s of standbys) await s.waitFor((e) => e.event === 'in-sync');
  t.ok(primary.events.some((e) => e.event === 'round'), 'join rounds were reported');
  load.kill('SIGKILL');
  await new Promise((r) => load.on('exit', r));
  const stopEpoch = Math.max(0, ...primary.events.filter((e) => e.event === 'epoch').map((e) => Number(e.epoch)));
  for (const id of ['s1', 's2']) await primary.waitFor((e) => e.event === 'epoch' && e.acked === true && e.standby === id && Number(e.epoch) > stopEpoch + 1);
  // 'received' acks when the epoch is in the standby's memory; the file follows at its commit
  for (const s of standbys) await s.waitFor((e) => e.event === 'epoch' && e.committed === true && Number(e.epoch) > stopEpoch + 1);
  for (const i of [1, 2]) t.ok(await converges(join(w.dir, `replica${i}.bin`), region), `replica ${i} equals the region byte for byte`);
  type Nodes = { nodes: { role: string; running: boolean; standbys: { phase: string }[] }[] };
  const shows = (n: Nodes) => n.nodes.some((x) => x.role === 'primary' && x.running && x.standbys.filter((s) => s.phase === 'synced').length === 2);
  let last = '';
  for (let tries = 0; tries < 30; tries++) {
    const status = spawnSync(process.execPath, [CLI, 'replicate', 'status', '--json'], { env: { ...process.env, SALVOR_STATE_DIR: join(w.dir, 'p') }, encoding: 'utf8' });
    last = status.stdout;
    if (status.status === 0 && shows(JSON.parse(status.stdout) as Nodes)) break;
    await new Promise((r) => setTimeout(r, 100)); // the status file is refreshed twice a second
  }
  t.ok(shows(JSON.parse(last) as Nodes), `status shows the running primary with two standbys in sync: ${last.trim()}`);
  primary.proc.kill('SIGTERM');
  t.equal(await primary.exited, 0, 'SIGTERM: the primary exits 0');
});

t.test('a wrong key is refused before any state moves', async (t) => {
  const url = nextUrl();
  const { w, primary } = await servingPrimary(t, 64, url, fast);
  const wrong = join(w.dir, 'wrong');
  writeFileSync(wrong, 'a different key of enough length\n');
  const standby = agent(['standby', '--connect', url, '--replica', join(w.dir, 'replica.bin'), '--psk-file', wrong, ...fast], join(w.dir, 's'));
  t.teardown(() => standby.proc.kill('SIGKILL'));
  await standby.waitFor((e) => e.event === 'primary-unreachable' && /auth|handshake|key/i.test(String(e.reason)));
  t.notOk(primary.events.some((e) => e.event === 'joined'), 'the primary never saw a join');
});

t.test('the standby is killed mid-join; the primary keeps serving; the rejoin is partial', async (t) => {
  const url = nextUrl();
  const { w, region, primary } = await servingPrimary(t, PAGES, url, fast);
  const replica = join(w.dir, 'replica.bin');
  const first = agent(['standby', '--connect', url, '--replica', replica, '--psk-file', w.psk, ...fast], join(w.dir, 's'));
  await first.waitFor((e) => e.event === 'in-sync');
  await first.waitFor((e) => e.event === 'epoch');
  first.proc.kill('SIGKILL');
  const lostAt = Date.now();
  await primary.waitFor((e) => e.event === 'standby-lost' || e.event === 'standby-gone');
  t.ok(Date.now() - lostAt < 2000, 'the primary notices within the timeout');
  const epochsBefore = primary.events.filter((e) => e.event === 'epoch').length;
  const buf = readFileSync(region);
  for (let k = 0; k < 10; k++) buf[k * 50 * 4096] ^= 0xff;
  writeFileSync(region, buf);
  const second = agent(['standby', '--connect', url, '--replica', replica, '--psk-file', w.psk, ...fast], join(w.dir, 's'));
  t.teardown(() => second.proc.kill('SIGKILL'));
  const joined = await second.waitFor((e) => e.event === 'joined');
  t.equal(joined.plan, 'partial', 'the rejoin compares page hashes');
  t.ok(Number(joined.pagesToSend) < PAGES / 4, `only changed pages travel (${String(joined.pagesToSend)})`);
  await second.waitFor((e) => e.event === 'in-sync');
  const at = Math.max(...primary.events.filter((e) => e.event === 'epoch').map((e) => Number(e.epoch)));
  await primary.waitFor((e) => e.event === 'epoch' && e.acked === true && Number(e.epoch) > at + 1);
  await second.waitFor((e) => e.event === 'epoch' && e.committed === true && Number(e.epoch) > at + 1);
  t.ok(primary.events.filter((e) => e.event === 'epoch').length > epochsBefore, 'the primary kept making epochs');
  t.ok(await converges(replica, region), 'equal after the partial resync');
});

const KILLS = Number(process.env.SALVOR_KILL_ROUNDS ?? 20);

t.test(`kill -9 of the primary at ${KILLS} random moments: the replica is always a whole epoch the standby committed and acked, and the standby promotes`, async (t) => {
  for (let round = 0; round < KILLS; round++) {
    const w = workspace();
    const region = join(w.dir, 'region.bin');
    writeFileSync(region, randomBytes(256 * 4096));
    const url = nextUrl();
    const primary = agent(['primary', '--region', region, '--listen', url, '--psk-file', w.psk, '--ack', 'persisted', ...fast], join(w.dir, 'p'));
    await primary.waitFor((e) => e.event === 'serving');
    const load = writer(region, 256);
    const replica = join(w.dir, 'replica.bin');
    const standby = agent(['standby', '--connect', url, '--replica', replica, '--psk-file', w.psk, ...fast], join(w.dir, 's'));
    await standby.waitFor((e) => e.event === 'in-sync');
    await new Promise((r) => setTimeout(r, Math.random() * 400));
    primary.proc.kill('SIGKILL');
    load.kill('SIGKILL');
    const failover = await standby.waitFor((e) => e.event === 'failover');
    const meta = JSON.parse(readFileSync(`${replica}.meta.json`, 'utf8')) as { epoch: number; digest: string; synced: boolean };
    // committed whole (digest checked against the primary's at commit) and acked unless the primary died first
    const acked = standby.events.some((e) => e.event === 'epoch' && Number(e.epoch) === meta.epoch && e.committed === true);
    if (!(meta.synced && acked && fileDigest(replica) === meta.digest && Number(failover.epoch) === meta.epoch))
      t.fail(`round ${round}: replica at epoch ${meta.epoch} (acked ${acked}, synced ${meta.synced}) digest ${fileDigest(replica)} vs ${meta.digest}; events ${JSON.stringify(standby.events.filter((e) => e.event !== "primary-unreachable").map((e) => [e.event, e.epoch]))}`);
    if (BigInt(String(failover.term)) < 2n) t.fail(`round ${round}: promoted with term ${String(failover.term)}`);
    await standby.waitFor((e) => e.event === 'serving');
    standby.proc.kill('SIGKILL');
    await standby.exited;
    w.cleanup();
  }
  t.pass(`${KILLS} kills: every replica equalled an epoch the standby had acked, and every standby promoted with a higher term`);
});

t.test('three agents: the primary dies, one standby takes over, the other follows it', async (t) => {
  const url = nextUrl();
  const { w, primary } = await servingPrimary(t, 256, url, fast);
  const standbys = [1, 2].map((i) => agent(['standby', '--connect', url, '--replica', join(w.dir, `r${i}.bin`), '--psk-file', w.psk, '--identity', `s${i}`, ...fast], join(w.dir, `s${i}`)));
  for (const s of standbys) t.teardown(() => s.proc.kill('SIGKILL'));
  for (const s of standbys) await s.waitFor((e) => e.event === 'in-sync');
  primary.proc.kill('SIGKILL');
  const served = await Promise.race(standbys.map((s, i) => s.waitFor((e) => e.event === 'serving').then(() => i)));
  const other = standbys[1 - served]!;
  const winner = standbys[served]!;
  await other.waitFor((e) => e.event === 'joined' && e.primary !== undefined && e.term !== '1', 20000);
  await other.waitFor((e) => e.event === 'in-sync' && e.term !== '1', 20000);
  const at = Math.max(0, ...winner.events.filter((e) => e.event === 'epoch').map((e) => Number(e.epoch)));
  await other.waitFor((e) => e.event === 'epoch' && e.committed === true && Number(e.epoch) > at + 1, 20000);
  t.ok(await converges(join(w.dir, 'r1.bin'), join(w.dir, 'r2.bin')), 'the follower equals the new primary');
  t.equal(standbys.filter((s) => s.events.some((e) => e.event === 'serving')).length, 1, 'exactly one standby serves');
});
