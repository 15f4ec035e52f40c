import t from 'tap';
import { chmodSync, existsSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { shapeAfter, shapeDiff } from '../cli/cli-doc';
import { cli, daemon, fastConfig, freePort, notifyReceiver, sleep, workdir, writeConfig } from './daemon-helpers';

// salvor daemon as systemd runs it: READY, WATCHDOG and STATUS on a notify socket the test binds,
// the control socket and `salvor status`, metrics, SIGHUP reloads (a bad config refused), SIGTERM.

t.test('daemon lifecycle: ready, watchdog, status, metrics, reload, stop', async (t) => {
  const dir = workdir(t);
  const port = await freePort();
  const config = writeConfig(join(dir, 'config.json'), fastConfig(dir, port));
  const notify = await notifyReceiver(join(dir, 'notify.sock'));
  t.teardown(() => notify.close());
  const d = daemon(['--config', config], { NOTIFY_SOCKET: join(dir, 'notify.sock'), WATCHDOG_USEC: '400000' });
  t.teardown(() => d.proc.kill('SIGKILL'));

  const ready = await notify.waitFor((m) => m.startsWith('READY=1'));
  t.match(ready, /STATUS=4\/4 capabilities running/, 'READY=1 comes with a STATUS line once every capability started');
  t.match(ready, new RegExp(`MAINPID=${d.proc.pid}`), 'and the main pid');
  await sleep(1000);
  const beats = notify.messages.filter((m) => m === 'WATCHDOG=1').length;
  t.ok(beats >= 2, `WATCHDOG=1 at half of WATCHDOG_USEC (${beats} in the first second)`);

  const socket = join(dir, 'var', 'salvor.sock');
  t.equal(statSync(socket).mode & 0o777, 0o600, 'the control socket is mode 0600');
  const status = await cli(['status', '--json', '--socket', socket]);
  t.equal(status.code, 0, 'salvor status exits 0');
  const s = JSON.parse(status.stdout) as { pid: number; capabilities: { name: string; state: string }[] };
  t.equal(s.pid, d.proc.pid, 'it talked to this daemon');
  t.same(s.capabilities.map((c) => [c.name, c.state]).sort(), [['leak', 'running'], ['nvram', 'running'], ['replication', 'running'], ['tee', 'running']], 'every capability is running');
  const statusShape = shapeAfter(/## salvor status[\s\S]*?`--json` prints\s*`/);
  t.same(shapeDiff(statusShape, s), [], 'status --json: the fields docs/cli.md lists, no more');
  const byConfig = await cli(['status', '--config', config]);
  t.match(byConfig.stdout, /4\/4 capabilities running/, 'the socket is found from the config too, and the text form summarises');

  const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  t.match(metrics, /salvor_capability_up\{capability="replication"\} 1/, 'metrics: capability up');
  t.match(metrics, /salvor_nvram_checks_total\{result="clean"\} [1-9]/, 'metrics: NVRAM checks');
  t.match(metrics, /salvor_capability_restarts_total\{capability="nvram"\} 0/, 'metrics: restarts at 0 before any restart');
  t.match(metrics, /salvor_leak_alerts_total\{kind="confirmed"\} 0/, 'metrics: leak alerts at 0 before any alert');
  t.match(metrics, new RegExp(`salvor_leak_score\\{pid="${d.proc.pid}",name="[^"]+"\\} \\d`), 'metrics: the daemon watching itself has a score series');
  t.match(metrics, /salvor_nodejs_eventloop_lag_p99_seconds \d/, 'metrics: event loop lag');
  t.notMatch(metrics, /eventloop_lag_min_seconds/, 'no raw delay minimum (it is the sampling interval, not lag)');
  const names = metrics.split('\n').filter((l) => l && !l.startsWith('#')).map((l) => l.split(/[{ ]/)[0]);
  t.same(names.filter((n) => !n.startsWith('salvor_')), [], 'every metric is named salvor_*');
  const health = await fetch(`http://127.0.0.1:${port}/healthz`);
  t.equal(health.status, 200, '/healthz is 200 while everything runs');

  for (const l of d.logs) if (l.event === 'not-json') t.fail(`a log line that is not JSON: ${String(l.line)}`);
  t.ok(d.logs.some((l) => l.capability === 'replication' && l.event === 'in-sync'), 'capability events are logged with the capability name');

  // SIGHUP with a broken config: refused, the old one keeps running.
  writeConfig(config, { ...fastConfig(dir, port), capabilities: { leak: { intervalMs: 'often' } } });
  d.proc.kill('SIGHUP');
  const refused = await d.waitLog((l) => l.event === 'reload-refused');
  t.match(refused.reason, /capabilities\.leak\.intervalMs: expected number/, 'the refusal names the key and what was expected');
  t.equal((await cli(['status', '--json', '--socket', socket])).code, 0, 'the daemon still answers after a refused reload');

  // SIGHUP with a valid change: only the changed capability restarts.
  const changed = fastConfig(dir, port);
  (changed.capabilities as { leak: { intervalMs: number } }).leak.intervalMs = 300;
  writeConfig(config, changed);
  d.proc.kill('SIGHUP');
  const reloaded = await d.waitLog((l) => l.event === 'reloaded');
  t.same(reloaded.restarted, ['leak'], 'a reload restarts only the capability whose section changed');
  await notify.waitFor((m) => m === 'RELOADING=1');

  // The same through `salvor reload`: a refused config is exit 16 and the daemon keeps running.
  writeConfig(config, { ...fastConfig(dir, port), log: { level: 'loud' } });
  const refusedCli = await cli(['reload', '--json', '--socket', socket]);
  t.equal(refusedCli.code, 16, 'salvor reload of a bad config: exit 16');
  t.match(JSON.parse(refusedCli.stdout), { applied: false, error: /log\.level/ }, 'the answer names the key');
  writeConfig(config, fastConfig(dir, port));
  const appliedCli = await cli(['reload', '--json', '--socket', socket]);
  t.equal(appliedCli.code, 0, 'salvor reload of a good config: exit 0');
  t.same(shapeDiff(shapeAfter(/## salvor reload[\s\S]*?`--json`\s+prints\s*`/), JSON.parse(appliedCli.stdout)), [], 'reload --json: as docs/cli.md shows');
  t.same(shapeDiff(shapeAfter(/## salvor reload[\s\S]*?`--json`\s+prints[^`]*`[^`]*` or `/), JSON.parse(refusedCli.stdout)), [], 'a refused reload --json: as docs/cli.md shows');
  t.same(JSON.parse(appliedCli.stdout).restarted, ['leak'], 'the leak section went back to its earlier interval: leak restarts');

  const stopAt = Date.now();
  d.proc.kill('SIGTERM');
  t.equal(await d.exited, 0, 'SIGTERM: exit 0');
  t.ok(Date.now() - stopAt < 15000, 'within the stop bound');
  await notify.waitFor((m) => m === 'STOPPING=1');
  t.notOk(existsSync(socket), 'the control socket is gone');
  t.ok(d.logs.some((l) => l.event === 'stopped'), 'a last log line says it stopped');
});

t.test('the control socket answers only its own user (and root)', { skip: process.getuid?.() !== 0 ? 'needs root to run a client as another user' : false }, async (t) => {
  const dir = workdir(t);
  chmodSync(dir, 0o755);
  const port = await freePort();
  const config = writeConfig(join(dir, 'config.json'), fastConfig(dir, port));
  const d = daemon(['--config', config]);
  t.teardown(() => d.proc.kill('SIGKILL'));
  await d.waitLog((l) => l.event === 'ready');
  const socket = join(dir, 'var', 'salvor.sock');
  chmodSync(join(dir, 'var'), 0o755);
  const blocked = await cli(['status', '--socket', socket], { uid: 65534, gid: 65534 });
  t.equal(blocked.code, 8, 'mode 0600 keeps another user out (exit 8)');
  t.match(blocked.stderr, /EACCES|permission/i);
  chmodSync(socket, 0o666); // even with the file opened up, the peer's credentials are checked
  const refused = await cli(['status', '--socket', socket], { uid: 65534, gid: 65534 });
  t.equal(refused.code, 8, 'a peer with another uid is refused');
  t.match(refused.stderr, /uid 65534 may not control this daemon/);
  await d.waitLog((l) => l.event === 'control-refused' && l.peerUid === 65534);
  d.proc.kill('SIGTERM');
  t.equal(await d.exited, 0);
});

t.test('a capability whose device disappears fails again and again: restarted with backoff, reported, the others keep running', async (t) => {
  const dir = workdir(t);
  const port = await freePort();
  const image = join(dir, 'nv.img');
  const format = await cli(['nvram', 'format', '--device', image, '--size', '16K'], { env: { SALVOR_STATE_DIR: join(dir, 'var') } });
  t.equal(format.code, 0, 'a real NVRAM image to start with');
  const config = fastConfig(dir, port);
  (config.capabilities as { nvram: Record<string, unknown> }).nvram = { device: image, checkIntervalMs: 100 };
  const d = daemon(['--config', writeConfig(join(dir, 'config.json'), config)]);
  t.teardown(() => d.proc.kill('SIGKILL'));
  await d.waitLog((l) => l.event === 'ready');
  rmSync(image);
  await d.waitLog((l) => l.event === 'capability-failed' && l.capability === 'nvram' && Number(l.restarts) >= 3, 20000);
  const failures = d.logs.filter((l) => l.event === 'capability-failed' && l.capability === 'nvram');
  t.same(failures.slice(0, 3).map((l) => l.restartInMs), [100, 200, 400], 'each restart waits twice as long as the one before');
  t.match(String(failures[1].reason), /start failed: .*ENOENT|nv\.img/, 'the reason names what failed');
  const s = JSON.parse((await cli(['status', '--json', '--config', join(dir, 'config.json')])).stdout) as { capabilities: { name: string; state: string; restarts: number; lastError: string }[] };
  const nvram = s.capabilities.find((c) => c.name === 'nvram')!;
  t.ok(nvram.restarts >= 3, 'status reports the restarts');
  t.not(nvram.state, 'running', 'and that nvram is not running');
  t.equal(s.capabilities.find((c) => c.name === 'replication')!.state, 'running', 'replication keeps running');
  t.equal(s.capabilities.find((c) => c.name === 'leak')!.state, 'running', 'leak detection keeps running');
  const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  t.match(metrics, /salvor_capability_up\{capability="nvram"\} 0/, 'the metric shows it down');
  d.proc.kill('SIGTERM');
  t.equal(await d.exited, 0);
});
