// What an operator's dashboard and log pipeline read: event loop lag measured as lag, the series a
// dashboard plots present from the start, `pid` once a log line, and a control socket that does not
// hold a silent client forever.
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { leakCapability } from '../../lib/agent/capabilities/leak';
import type { Capability } from '../../lib/agent/capability';
import { leakSchema } from '../../lib/agent/config-schema';
import { listenControl } from '../../lib/agent/control-socket';
import { createLogger } from '../../lib/agent/logger';
import { createMetrics } from '../../lib/agent/metrics';
import { Supervisor } from '../../lib/agent/supervisor';
import type { MemorySource } from '../../lib/leak/memory-source';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function sample(text: string, name: string, labels = ''): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `) || (labels === '' && l.startsWith(`${name}{`)));
  return line === undefined ? undefined : Number(line.split(' ').pop());
}

function logSink() {
  const raw: string[] = [];
  const stream = new PassThrough();
  stream.on('data', (d: Buffer) => raw.push(...d.toString().split('\n').filter(Boolean)));
  return { raw, log: createLogger('info', stream) };
}

t.test('event loop lag: a blocked loop shows as lag; the sampling interval does not', async (t) => {
  const metrics = createMetrics();
  t.teardown(() => metrics.close());
  await sleep(350); // a few idle samples first
  const blockUntil = Date.now() + 300;
  while (Date.now() < blockUntil); // the loop blocked for 300 ms
  await sleep(250);
  const text = await metrics.registry.metrics();
  t.notMatch(text, /eventloop_lag_min_seconds/, "the raw delay histogram's min (the sampling interval) is not exported");
  const p50 = sample(text, 'salvor_nodejs_eventloop_lag_p50_seconds')!;
  const max = sample(text, 'salvor_nodejs_eventloop_lag_max_seconds')!;
  const p99 = sample(text, 'salvor_nodejs_eventloop_lag_p99_seconds')!;
  t.ok(max >= 0.19, `the 300 ms block made a 100 ms timer at least 0.2 s late (max ${max} s)`);
  t.ok(p50 >= 0 && p50 <= p99 && p99 <= max, `p50 ${p50} <= p99 ${p99} <= max ${max}`);
});

t.test('restarts, leak score and leak alerts are 0 from the start, per capability and per watched process', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'salvor-metrics-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const metrics = createMetrics();
  t.teardown(() => metrics.close());
  const { raw, log } = logSink();
  const sup = new Supervisor(
    { healthIntervalMs: 50, restartInitialMs: 50, restartMaxMs: 400, stableAfterMs: 60_000, stopTimeoutMs: 500 },
    { stateDir: dir, metrics },
    log,
    metrics,
  );
  t.teardown(() => sup.stopAll());
  const source: MemorySource = { read: async (target) => (target.kind === 'pid' ? { bytes: 50 << 20, metric: 'rss-anon', instance: 'a', name: 'app' } : undefined) };
  const idle: Capability = {
    name: 'idle',
    configKey: 'idle',
    start: async () => ({ done: new Promise(() => undefined), health: () => ({ ok: true }), status: () => ({}), stop: async () => undefined }),
  };
  await sup.add([idle, leakCapability(leakSchema.parse({ pids: [4242], self: false, intervalMs: 100 }), { source: () => source })]);
  await sleep(150); // the first sample is taken at once
  const text = await metrics.registry.metrics();
  t.equal(sample(text, 'salvor_capability_restarts_total', '{capability="idle"}'), 0);
  t.equal(sample(text, 'salvor_capability_restarts_total', '{capability="leak"}'), 0);
  for (const kind of ['suspect', 'confirmed', 'cleared']) t.equal(sample(text, 'salvor_leak_alerts_total', `{kind="${kind}"}`), 0, `alerts ${kind}`);
  t.equal(sample(text, 'salvor_leak_score', '{pid="4242",name="app"}'), 0, 'a watched process has a score series before it can be scored');
  for (const line of raw) t.equal((line.match(/"pid":/g) ?? []).length, 1, `pid once: ${line.slice(0, 120)}`);
});

t.test("a log record's own pid does not repeat the daemon's: it is kept as subjectPid", async (t) => {
  const { raw, log } = logSink();
  log.info({ event: 'x', pid: 7 }, 'about another process');
  log.child({ capability: 'leak' }).info({ event: 'y' }, 'plain');
  await sleep(10);
  t.equal(raw.length, 2);
  for (const line of raw) t.equal((line.match(/"pid":/g) ?? []).length, 1, line);
  t.match(JSON.parse(raw[0]!), { pid: process.pid, subjectPid: 7, event: 'x' });
});

t.test('a control-socket client that sends no newline is disconnected after the request timeout', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'salvor-control-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const logged: Record<string, unknown>[] = [];
  const server = await listenControl({
    path: join(dir, 'c.sock'),
    handler: async () => ({ pong: true }),
    credentials: () => ({ pid: process.pid, uid: process.getuid?.() ?? 0, gid: 0 }),
    log: (line) => logged.push(line),
    requestTimeoutMs: 200,
  });
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const silent = createConnection(join(dir, 'c.sock'));
  silent.write('{"cmd":"status"'); // no newline, ever
  const closed = await new Promise<boolean>((resolve) => {
    silent.on('close', () => resolve(true));
    silent.on('error', () => undefined);
  });
  t.ok(closed, 'the server closed the connection');
  t.match(logged, [{ event: 'control-timeout', peerPid: process.pid, timeoutMs: 200 }]);
  t.notOk('pid' in logged[0]!, "the peer's pid is peerPid, not a second pid");

  // a request that arrives in time is answered, however long the answer then takes
  const answer = await new Promise<string>((resolve) => {
    const c = createConnection(join(dir, 'c.sock'));
    let text = '';
    c.setEncoding('utf8');
    c.on('data', (d: string) => (text += d));
    c.on('end', () => resolve(text));
    c.write('{"cmd":"status"}\n');
  });
  t.match(JSON.parse(answer), { ok: true, pong: true });
});
