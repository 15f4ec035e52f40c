import t, { type Test } from 'tap';
import { closeSync, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { agent, CLI, converges, fileDigest, servingPrimary, writer } from './replicate-helpers';
import { KEY, standbyNode, tempDir } from './in-process-nodes';
import { checkFileLeavesNoHandles } from '../transport/open-handles';
import { Msg } from '../../lib/replication/protocol';
import { tcpTransport } from '../../platform/linux/transport-tcp';

// salvor replicate end to end: separate agent processes on loopback TCP with a pre-shared key.

const PAGES = 1024;
const fast = ['--interval', '50', '--timeout', '600'];

checkFileLeavesNoHandles(t);
const ANY_PORT = 'tcp://127.0.0.1:0';

t.test('two and three agents: join under a writer, then byte-for-byte equal', async (t) => {
  const { w, region, primary, url } = await servingPrimary(t, PAGES, ANY_PORT, fast);
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

t.test('a wrong key is refused before any state moves, and the standby exits 16', async (t) => {
  const { w, primary, url } = await servingPrimary(t, 64, ANY_PORT, fast);
  const wrong = join(w.dir, 'wrong');
  writeFileSync(wrong, 'a different key of enough length\n');
  const standby = agent(['standby', '--connect', url, '--replica', join(w.dir, 'replica.bin'), '--psk-file', wrong, ...fast], join(w.dir, 's'));
  t.teardown(() => standby.proc.kill('SIGKILL'));
  await standby.waitFor((e) => e.event === 'primary-unreachable' && e.cause === 'handshake-refused');
  t.equal(await standby.exited, 16, 'exit 16 after three refusals in a row');
  t.match(standby.events.at(-1), { error: { code: 'SALVOR_AUTH', message: /refused this node's key or certificate 3 times in a row/ } }, 'the last line says why');
  await primary.waitFor((e) => e.event === 'auth-refused');
  t.notOk(primary.events.some((e) => e.event === 'joined'), 'the primary never saw a join');
  t.ok([...primary.events, ...standby.events.slice(0, -1)].every((e) => typeof e.time === 'string' && !Number.isNaN(Date.parse(String(e.time)))), 'every event, transport ones included, has a time');
  // Without --json: one line of human text per event, never raw JSON.
  const human = spawnSync(process.execPath, [CLI, 'replicate', 'standby', '--connect', url, '--replica', join(w.dir, 'replica2.bin'), '--psk-file', wrong, ...fast], {
    env: { ...process.env, SALVOR_STATE_DIR: join(w.dir, 's2') },
    encoding: 'utf8',
  });
  t.equal(human.status, 16);
  t.match(human.stderr, /^data link up|^refused by tcp:\/\/127\.0\.0\.1:\d+: TLS handshake/m, `human text: ${human.stderr.split('\n')[0]}`);
  t.notOk(human.stderr.split('\n').some((l) => l.trimStart().startsWith('{') || /\{"/.test(l)), 'no JSON in it');
  t.equal(human.stdout, '', 'nothing on stdout');
});

t.test('a 14 MiB hello from a peer holding the key: the primary refuses it from the header, its memory stays put', async (t) => {
  const { primary, url } = await servingPrimary(t, 64, ANY_PORT, fast);
  const rssOf = () => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${primary.proc.pid}/status`, 'utf8'))![1]) * 1024;
  const before = rssOf();
  const hostile = await tcpTransport.connect(new URL(url), { psk: KEY, identity: 'hostile', timeoutMs: 2000 });
  const closed = new Promise<void>((resolve) => hostile.onClose(() => resolve()));
  void hostile.send(Msg.hello, Buffer.alloc(14 * 1024 * 1024), 1n).catch(() => undefined);
  await primary.waitFor((e) => e.event === 'link-failed');
  await closed;
  await hostile.close();
  t.match(primary.events.find((e) => e.event === 'link-failed'), { code: 'SALVOR_BAD_FRAME', reason: /over the \d+-byte limit for frame type 0x01/ });
  const grew = rssOf() - before;
  t.ok(grew < 8 * 1024 * 1024, `the primary's RSS grew by ${(grew / 1048576).toFixed(1)} MiB (a 14 MiB hello read whole would add at least 14)`);
});

t.test('a replica path that cannot be used ends the standby with exit 16, the primary untouched', async (t) => {
  const { w, primary, url } = await servingPrimary(t, 64, ANY_PORT, fast);
  const run = (replica: string, ...extra: string[]) =>
    spawnSync(process.execPath, [CLI, 'replicate', 'standby', '--connect', url, '--replica', replica, '--psk-file', w.psk, ...fast, ...extra], { env: { ...process.env, SALVOR_STATE_DIR: join(w.dir, 's') }, encoding: 'utf8' });
  const missing = run('/nonexistent/dir/r.bin');
  t.equal(missing.status, 16, 'a replica in a directory that does not exist: exit 16');
  t.match(missing.stderr, /^salvor: replica \/nonexistent\/dir\/r\.bin: cannot be created or written/m);
  const notes = join(w.dir, 'notes.txt');
  writeFileSync(notes, '8 bytes!');
  const foreign = run(notes);
  t.equal(foreign.status, 16, 'an existing file that is not a replica: exit 16');
  t.match(foreign.stderr, /not a replica .*give --force/);
  t.equal(readFileSync(notes, 'utf8'), '8 bytes!', 'and it is left as it was');
  t.notOk(primary.events.some((e) => e.event === 'joined' || e.event === 'standby-gone'), 'the primary saw no join');
});

t.test('the standby is killed mid-join; the primary keeps serving; the rejoin is partial', async (t) => {
  const { w, region, primary, url } = await servingPrimary(t, PAGES, ANY_PORT, fast);
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
/** Kill rounds run this many at a time: each is its own primary process, port and files. */
const AT_ONCE = 5;

/** A writer in this process: random bytes into random pages of `file`, every millisecond until stopped. */
function inProcessWriter(file: string, pages: number): () => void {
  const fd = openSync(file, 'r+');
  const timer = setInterval(() => {
    for (let k = 0; k < 8; k++) writeSync(fd, randomBytes(2), 0, 2, Math.floor(Math.random() * pages) * 4096 + Math.floor(Math.random() * 4094));
  }, 1);
  return () => {
    clearInterval(timer);
    closeSync(fd);
  };
}

// The primary is a process of its own (kill -9 is the point); the standby, whose replica and events are
// what is checked, runs in this process, as does the writer.
async function killRound(t: Test, round: number): Promise<void> {
  const dir = tempDir(t, `kill-${round}`);
  const psk = join(dir, 'psk');
  writeFileSync(psk, KEY);
  const region = join(dir, 'region.bin');
  writeFileSync(region, randomBytes(256 * 4096));
  const primary = agent(['primary', '--region', region, '--listen', 'tcp://127.0.0.1:0', '--psk-file', psk, '--ack', 'persisted', ...fast], join(dir, 'p'));
  t.teardown(() => primary.proc.kill('SIGKILL'));
  const url = String((await primary.waitFor((e) => e.event === 'serving')).url);
  const stopWriter = inProcessWriter(region, 256);
  const replica = join(dir, 'replica.bin');
  const standby = standbyNode(t, dir, url, replica);
  try {
    await standby.waitFor((e) => e.event === 'in-sync');
    await sleep(Math.random() * 400);
    primary.proc.kill('SIGKILL');
  } finally {
    stopWriter();
  }
  const failover = await standby.waitFor((e) => e.event === 'failover');
  const meta = JSON.parse(readFileSync(`${replica}.meta.json`, 'utf8')) as { epoch: number; digest: string; synced: boolean };
  // committed whole (digest checked against the primary's at commit) and acked unless the primary died first
  const acked = standby.events.some((e) => e.event === 'epoch' && Number(e.epoch) === meta.epoch && e.committed === true);
  if (!(meta.synced && acked && fileDigest(replica) === meta.digest && Number(failover.epoch) === meta.epoch))
    t.fail(`round ${round}: replica at epoch ${meta.epoch} (acked ${acked}, synced ${meta.synced}) digest ${fileDigest(replica)} vs ${meta.digest}; events ${JSON.stringify(standby.events.filter((e) => e.event !== 'primary-unreachable').map((e) => [e.event, e.epoch]))}`);
  if (BigInt(String(failover.term)) < 2n) t.fail(`round ${round}: promoted with term ${String(failover.term)}`);
  await standby.waitFor((e) => e.event === 'serving');
  await standby.stop();
}

t.test(`kill -9 of the primary at ${KILLS} random moments: the replica is always a whole epoch the standby committed and acked, and the standby promotes`, async (t) => {
  for (let first = 0; first < KILLS; first += AT_ONCE) {
    const rounds = Array.from({ length: Math.min(AT_ONCE, KILLS - first) }, (_, i) => first + i);
    await Promise.all(rounds.map((round) => killRound(t, round)));
  }
  t.pass(`${KILLS} kills: every replica equalled an epoch the standby had acked, and every standby promoted with a higher term`);
});

// The two standbys run in this process: what is checked is which one serves and that the other follows.
t.test('three agents: the primary dies, one standby takes over, the other follows it', async (t) => {
  const { w, primary, url } = await servingPrimary(t, 256, ANY_PORT, fast);
  const standbys = [1, 2].map((i) => standbyNode(t, w.dir, url, join(w.dir, `r${i}.bin`), { identity: `s${i}` }));
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
