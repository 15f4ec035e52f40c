import t from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openPtyPair } from '../../platform/linux/pty-pair';
import { agent, converges, servingPrimary, writer } from './replicate-helpers';

// salvor replicate over a serial line: two agent processes on the two ends of a pty pair (socat), a
// writer changing pages during the join, and garbage, dropped and duplicated bytes on the line.

const PAGES = 64; // 256 KiB: a serial line is slow, the protocol is the same
const fast = ['--interval', '100', '--timeout', '3000'];

for (const fault of ['', 'drop=0.02,dup=0.02,corrupt=0.02,seed=7']) {
  t.test(`serial line${fault ? ` with ${fault}` : ''}: join under a writer, then byte-for-byte equal`, async (t) => {
    const pty = await openPtyPair();
    t.teardown(() => pty.close());
    const env: Record<string, string> = fault ? { SALVOR_LINK_FAULT: fault } : {};
    const { w, region } = await servingPrimary(t, PAGES, `serial://${pty.a}?baud=4000000`, fast, env);
    const load = writer(region, PAGES);
    t.teardown(() => load.kill('SIGKILL'));
    const replica = join(w.dir, 'replica.bin');
    const standby = agent(['standby', '--connect', `serial://${pty.b}?baud=4000000`, '--replica', replica, '--psk-file', w.psk, ...fast], join(w.dir, 's'), env);
    t.teardown(() => standby.proc.kill('SIGKILL'));
    await standby.waitFor((e) => e.event === 'in-sync', 60000);
    load.kill('SIGKILL');
    await new Promise((r) => load.on('exit', r));
    t.ok(await converges(replica, region), 'with the writer stopped, the replica comes to equal the region byte for byte');
    await new Promise((r) => setTimeout(r, 500));
    t.ok(readFileSync(replica).equals(readFileSync(region)), 'and stays equal over further epochs');
  });
}

t.test('serial line: a wrong key is refused', async (t) => {
  const pty = await openPtyPair();
  t.teardown(() => pty.close());
  const { w, primary } = await servingPrimary(t, PAGES, `serial://${pty.a}`, fast);
  const wrong = join(w.dir, 'wrong');
  writeFileSync(wrong, 'a different key of enough length\n');
  const standby = agent(['standby', '--connect', `serial://${pty.b}`, '--replica', join(w.dir, 'r.bin'), '--psk-file', wrong, ...fast], join(w.dir, 's'));
  t.teardown(() => standby.proc.kill('SIGKILL'));
  await standby.waitFor((e) => e.event === 'primary-unreachable', 30000);
  t.notOk(primary.events.some((e) => e.event === 'joined'), 'no join with a wrong key');
});
