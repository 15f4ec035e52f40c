import t from 'tap';
import { spawn } from 'node:child_process';
import { salvor } from '../cli/run-cli';
import { startCli } from './helpers';

t.test('salvor leak watch --verbose --json: one JSON sample per line; SIGTERM ends it with exit 0', async (t) => {
  const sleeper = spawn('sleep', ['60']);
  t.teardown(() => sleeper.kill('SIGKILL'));
  const run = startCli(['leak', 'watch', '--pid', String(sleeper.pid), '--pid', String(process.pid), '--interval', '0.1', '--verbose', '--json']);
  await run.waitFor((o) => o.stdout.split('\n').length > 4, 'four samples'); // the handlers are in place once it samples
  run.child.kill('SIGTERM');
  const r = await run.done;
  t.equal(r.code, 0, `exit 0 on SIGTERM (stderr ${r.stderr})`);
  const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  t.ok(lines.length >= 4, `samples printed (${lines.length})`);
  t.ok(lines.every((e) => e.event === 'sample'), 'only samples from processes that do not leak');
  t.ok(lines.some((e) => e.pid === sleeper.pid && e.name === 'sleep'), 'the sleeper by pid and comm');
  t.ok(lines.every((e) => typeof e.bytes === 'number' && e.metric === 'rss-anon' && typeof e.time === 'string'));
});

t.test('salvor leak watch without --verbose prints no samples; SIGINT ends it with exit 0', async (t) => {
  const run = startCli(['leak', 'watch', '--pid', String(process.pid), '--interval', '0.05', '--json']);
  // its note on stderr comes right before it starts and takes SIGINT; then about a second of watching
  await run.waitFor((o) => /SIGINT or SIGTERM stops/.test(o.stderr), 'its start note');
  await new Promise((r) => setTimeout(r, 1000));
  run.child.kill('SIGINT');
  const r = await run.done;
  t.equal(r.code, 0);
  t.equal(r.stdout, '', 'nothing on stdout: no suspect in a second');
});

t.test('salvor leak watch: usage and bad input exit 16', async (t) => {
  const [none, pidAbc, interval0, intervalSoon, gone, cg, help] = await Promise.all([
    ['leak', 'watch', '--json'],
    ['leak', 'watch', '--pid', 'abc'],
    ['leak', 'watch', '--pid', '1', '--interval', '0'],
    ['leak', 'watch', '--pid', '1', '--interval', 'soon'],
    ['leak', 'watch', '--pid', '999999999'],
    ['leak', 'watch', '--cgroup', 'no/such/service.slice', '--json'],
    ['leak', 'watch', '--help'],
  ].map((args) => salvor(args)));
  t.equal(none!.code, 16);
  t.match(none!.stderr, /--pid/);
  t.equal(pidAbc!.code, 16);
  t.equal(interval0!.code, 16);
  t.equal(intervalSoon!.code, 16);
  t.equal(gone!.code, 16);
  t.match(gone!.stderr, /999999999/);
  t.equal(gone!.stderr.trim().split('\n').length, 1);
  t.equal(cg!.code, 16);
  t.match(JSON.parse(cg!.stdout), { error: { code: 'SALVOR_BAD_INPUT' } });
  t.equal(help!.code, 0);
  for (const flag of ['--pid', '--cgroup', '--all', '--interval', '--verbose', '--json']) t.match(help!.stdout, flag);
});
