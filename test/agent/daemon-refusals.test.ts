import t from 'tap';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { cli, daemon, fastConfig, freePort, notifyReceiver, workdir, writeConfig } from './daemon-helpers';

// What the daemon refuses, each with one clear line and exit 16 (bad config) or 8 (cannot run here),
// and never half-started: no READY, no capability started, no socket left behind.

const badConfigs: [string, unknown, RegExp][] = [
  ['an unknown key', { capabilities: { nvram: { checkIntervalMS: 5 } } }, /capabilities\.nvram\.checkIntervalMS: unknown key/],
  ['a wrong type', { http: { listen: 9310 } }, /http\.listen: expected string/],
  ['a value out of its set', { capabilities: { replication: { ack: 'sometimes' } } }, /capabilities\.replication\.ack: .*"async"\|"received"\|"persisted"/],
  ['a malformed URL list', { capabilities: { replication: { role: 'standby', connect: ['http://x'] } } }, /capabilities\.replication\.connect\[0\]: expected tcp:\/\//],
  ['a negative interval', { capabilities: { leak: { intervalMs: -5 } } }, /capabilities\.leak\.intervalMs: /],
  ['not JSON', '{ "log": ', /not JSON/],
];

for (const [what, config, message] of badConfigs) {
  t.test(`a config with ${what} is refused with exit 16`, async (t) => {
    const dir = workdir(t);
    const file = writeConfig(join(dir, 'bad.json'), config);
    const check = await cli(['daemon', '--check', '--config', file]);
    t.equal(check.code, 16, '--check: exit 16');
    t.match(check.stderr, message, 'the error names the key path and what was expected');
    t.match(check.stderr, file, 'and the file');
    t.equal(check.stderr.trim().split('\n').length, 1, 'on one line');
    const run = await cli(['daemon', '--config', file], { env: { SALVOR_STATE_DIR: join(dir, 'var') } });
    t.equal(run.code, 16, 'the daemon refuses to start: exit 16');
    t.notOk(existsSync(join(dir, 'var')), 'and created nothing');
  });
}

t.test('a missing config file is bad input; a valid one passes --check', async (t) => {
  const dir = workdir(t);
  const missing = await cli(['daemon', '--config', join(dir, 'nope.json')]);
  t.equal(missing.code, 16);
  t.match(missing.stderr, /nope\.json/);
  const good = writeConfig(join(dir, 'good.json'), fastConfig(dir, 9999));
  const ok = await cli(['daemon', '--check', '--config', good]);
  t.equal(ok.code, 0);
  t.match(ok.stdout, /valid/);
});

t.test('a second daemon on the same state directory is refused (exit 8) and the first keeps running', async (t) => {
  const dir = workdir(t);
  const first = daemon(['--config', writeConfig(join(dir, 'a.json'), fastConfig(dir, await freePort()))]);
  t.teardown(() => first.proc.kill('SIGKILL'));
  await first.waitLog((l) => l.event === 'ready');
  const second = await cli(['daemon', '--config', writeConfig(join(dir, 'b.json'), fastConfig(dir, await freePort()))]);
  t.equal(second.code, 8, 'exit 8');
  t.match(second.stderr, /another salvor daemon runs on .*var/, 'one line saying why');
  const status = await cli(['status', '--json', '--config', join(dir, 'a.json')]);
  t.equal(JSON.parse(status.stdout).pid, first.proc.pid, 'the first daemon still owns the control socket');
  first.proc.kill('SIGTERM');
  t.equal(await first.exited, 0);
});

t.test('an HTTP port in use: exit 8 before any capability starts, and nothing is left behind', async (t) => {
  const dir = workdir(t);
  const blocker = createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => blocker.close());
  const port = (blocker.address() as { port: number }).port;
  const notify = await notifyReceiver(join(dir, 'notify.sock'));
  t.teardown(() => notify.close());
  const config = writeConfig(join(dir, 'c.json'), fastConfig(dir, port));
  const r = await cli(['daemon', '--config', config], { env: { NOTIFY_SOCKET: join(dir, 'notify.sock') } });
  t.equal(r.code, 8, 'exit 8');
  t.match(r.stderr, new RegExp(`cannot serve http on 127\\.0\\.0\\.1:${port}: the port is in use`));
  t.notOk(r.stdout.includes('"started"'), 'no capability started');
  t.notOk(notify.messages.some((m) => m.startsWith('READY=1')), 'no READY was sent');
  t.notOk(existsSync(join(dir, 'var')), 'nothing is left: no daemon.lock, and the state directory this start made is gone');
  mkdirSync(join(dir, 'var'));
  writeFileSync(join(dir, 'var', 'kept'), 'an earlier run left this');
  const again8 = await cli(['daemon', '--config', config]);
  t.equal(again8.code, 8);
  t.same(readdirSync(join(dir, 'var')), ['kept'], 'a state directory that was there stays, without daemon.lock');
  const again = daemon(['--config', writeConfig(config, fastConfig(dir, await freePort()))]);
  t.teardown(() => again.proc.kill('SIGKILL'));
  await again.waitLog((l) => l.event === 'ready');
  t.pass('with a free port the next start gets the lock and runs');
  again.proc.kill('SIGTERM');
  t.equal(await again.exited, 0);
});

t.test('a state directory that cannot be made is refused with exit 8', async (t) => {
  const dir = workdir(t);
  writeFileSync(join(dir, 'file'), 'not a directory');
  const r = await cli(['daemon', '--config', writeConfig(join(dir, 'c.json'), { ...fastConfig(dir, 9999), stateDir: join(dir, 'file', 'var') })]);
  t.equal(r.code, 8);
  t.match(r.stderr, /state directory .*file\/var is not writable/);
});

t.test('salvor status with no daemon running: exit 8 and one line', async (t) => {
  const dir = workdir(t);
  const r = await cli(['status', '--socket', join(dir, 'none.sock')]);
  t.equal(r.code, 8);
  t.match(r.stderr, /no salvor daemon runs with control socket .*none\.sock/);
});
