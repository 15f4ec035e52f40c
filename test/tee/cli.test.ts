import t from 'tap';
import { createPublicKey, verify } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cli, daemon, freePort, sleep, workdir, writeConfig } from '../agent/daemon-helpers';

// salvor tee against a running daemon (the TEE capability alone, simulated TEE): usage errors, no
// daemon, status/pubkey/sign/recover, and a daemon SIGKILLed during a recovery and started again.

function teeConfig(dir: string, tee: Record<string, unknown> = {}, port?: number): string {
  return writeConfig(join(dir, 'config.json'), {
    stateDir: join(dir, 'var'),
    http: port ? { listen: `127.0.0.1:${port}` } : { enabled: false },
    capabilities: { nvram: { enabled: false }, replication: { enabled: false }, leak: { enabled: false }, tee: { keys: [{ name: 'device' }, { name: 'attest', alg: 'ecdsa-p256' }], ...tee } },
  });
}

t.test('usage errors and no daemon', async (t) => {
  const dir = workdir(t);
  const config = teeConfig(dir);
  const none = await cli(['tee', 'status', '--config', config]);
  t.equal(none.code, 8, 'no daemon: exit 8');
  t.equal(none.stderr.trim().split('\n').length, 1, 'with one line');
  t.match(none.stderr, /no salvor daemon runs with control socket/);
  writeFileSync(join(dir, 'msg'), 'x');
  for (const [args, why] of [
    [['tee', 'inject', 'meltdown'], 'an unknown fault'],
    [['tee', 'sign'], 'sign without --in'],
    [['tee', 'sign', '--in', join(dir, 'missing')], 'a missing input file'],
    [['tee', 'sign', '--in', join(dir, 'msg'), '--timeout', 'soon'], 'a bad --timeout'],
  ] as [string[], string][]) {
    const r = await cli([...args, '--config', config]);
    t.equal(r.code, 16, `${why}: exit 16`);
    t.equal(r.stderr.trim().split('\n').length, 1, `${why}: one line (${r.stderr.trim()})`);
  }
  const bad = await cli(['daemon', '--check', '--config', teeConfig(dir, { crashLoop: { maxCrashes: 0 } })]);
  t.equal(bad.code, 16, 'a bad capabilities.tee section is refused at --check');
  t.match(bad.stderr, /capabilities\.tee\.crashLoop\.maxCrashes/, 'naming the key');
});

t.test('status, pubkey, sign, recover; a daemon killed during recovery resumes it', async (t) => {
  const dir = workdir(t);
  const port = await freePort();
  const config = teeConfig(dir, { callTimeoutMs: 2500 }, port);
  let d = daemon(['--config', config]);
  t.teardown(() => d.proc.kill('SIGKILL'));
  await d.waitLog((l) => l.event === 'tee-ready', 30_000);
  const c = (...args: string[]) => cli([...args, '--config', config]);

  const st = await c('tee', 'status', '--json');
  t.equal(st.code, 0);
  const s = JSON.parse(st.stdout) as Record<string, unknown>;
  t.same([s.state, s.backend, s.restarts, s.taRestarts, s.signed], ['running', 'sim', 0, 0, 0], 'status --json: state, backend, restarts, taRestarts, signed');

  const pem = (await c('tee', 'pubkey')).stdout;
  t.match(pem, /^-----BEGIN PUBLIC KEY-----/, 'pubkey prints PEM (key device by default)');
  const msgPath = join(dir, 'msg');
  writeFileSync(msgPath, 'sign me');
  const plain = await c('tee', 'sign', '--in', msgPath);
  t.equal(plain.code, 0);
  t.ok(verify(null, Buffer.from('sign me'), createPublicKey(pem), Buffer.from(plain.stdout.trim(), 'base64')), 'the base64 signature verifies with node:crypto against tee pubkey');
  const ec = JSON.parse((await c('tee', 'sign', '--key', 'attest', '--in', msgPath, '--json')).stdout) as { signature: string; key: string; alg: string };
  t.same([ec.key, ec.alg], ['attest', 'ecdsa-p256']);
  const ecPem = (await c('tee', 'pubkey', '--key', 'attest')).stdout;
  t.ok(verify('sha256', Buffer.from('sign me'), createPublicKey(ecPem), Buffer.from(ec.signature, 'base64')), 'ECDSA P-256: the DER signature verifies as printed');
  const unknown = await c('tee', 'sign', '--key', 'nope', '--in', msgPath);
  t.equal(unknown.code, 16, 'an unknown key: exit 16');
  t.equal((await c('tee', 'recover')).code, 0, 'recover on a healthy TEE: exit 0 (clean)');
  const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  t.match(metrics, /salvor_tee_up 1/, 'metrics: the TEE service is up');
  t.match(metrics, /salvor_tee_signatures_total 2/, 'metrics: signatures counted');
  const page = await (await fetch(`http://127.0.0.1:${port}/`)).text();
  t.match(page, /<section id="tee">.*<b class="tee-state">running<\/b>; 2 signatures/s, 'the status page has the TEE line');

  // A hung TA: the sign's call passes its deadline, recovery stores its record and tries the TA (which
  // hangs again); the daemon is killed then, with the request pending in the record.
  t.equal((await c('tee', 'inject', 'hang')).code, 0);
  writeFileSync(msgPath, 'across a daemon kill');
  const signing = c('tee', 'sign', '--in', msgPath, '--json', '--timeout', '60');
  const record = join(dir, 'var', 'tee', 'recovery.json');
  for (let i = 0; i < 400 && !existsSync(record); i++) await sleep(25);
  t.ok(existsSync(record), 'recovery stored its record');
  d.proc.kill('SIGKILL');
  await d.exited;
  d = daemon(['--config', config]);
  const resuming = await d.waitLog((l) => l.event === 'tee-recovery-resuming', 30_000);
  t.equal(resuming.pending, 1, 'the restarted daemon resumes the recovery with the pending request');
  const signed = await signing;
  t.equal(signed.code, 0, `the sign that was pending completes (${signed.stderr.trim()})`);
  t.ok(verify(null, Buffer.from('across a daemon kill'), createPublicKey(pem), Buffer.from((JSON.parse(signed.stdout) as { signature: string }).signature, 'base64')), 'with a valid signature from the same key');
  t.notOk(existsSync(record), 'the record is gone once resumed');
  const after = JSON.parse((await c('tee', 'status', '--json')).stdout) as { counter: number; state: string; restarts: number };
  t.equal(after.state, 'running');
  t.equal(after.counter, 3, 'the TA signed three times in all: the replayed request once');
  t.ok(after.restarts >= 1, 'the resumed recovery restarted the TEE OS');
  d.proc.kill('SIGTERM');
  t.equal(await d.exited, 0, 'the daemon stops cleanly');
});
