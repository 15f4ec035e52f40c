import t from 'tap';
import { Writable } from 'node:stream';
import type { Capability, RunningCapability } from '../../lib/agent/capability';
import { createLogger } from '../../lib/agent/logger';
import { createMetrics } from '../../lib/agent/metrics';
import { Supervisor } from '../../lib/agent/supervisor';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const options = { healthIntervalMs: 30, restartInitialMs: 40, restartMaxMs: 400, stableAfterMs: 60_000, stopTimeoutMs: 500 };

function harness() {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  const log = createLogger('info', sink);
  const metrics = createMetrics();
  const sup = new Supervisor(options, { stateDir: '/nonexistent', metrics }, log, metrics);
  return { lines, sup, metrics };
}

/** A capability that runs until stopped, counting its starts and stops. */
function steady(name: string) {
  const c = { starts: 0, stops: 0 };
  const cap: Capability = {
    name,
    configKey: name,
    async start(): Promise<RunningCapability> {
      c.starts++;
      return { done: new Promise(() => undefined), health: () => ({ ok: true }), status: () => ({ starts: c.starts }), stop: async () => void c.stops++ };
    },
  };
  return { cap, c };
}

t.test('a capability that crashes repeatedly is restarted with growing backoff and reported; the others keep running', async (t) => {
  const { sup, lines, metrics } = harness();
  const startTimes: number[] = [];
  const crashing: Capability = {
    name: 'crashy',
    configKey: 'crashy',
    async start(ctx) {
      startTimes.push(Date.now());
      ctx.event({ event: 'alive' });
      return { done: sleep(10).then(() => Promise.reject(new Error('boom'))), health: () => ({ ok: true }), status: () => ({}), stop: async () => undefined };
    },
  };
  const other = steady('other');
  await sup.add([crashing, other.cap]);
  for (let waited = 0; startTimes.length < 5 && waited < 10_000; waited += 20) await sleep(20);
  const report = sup.reports().find((r) => r.name === 'crashy')!;
  t.ok(startTimes.length >= 5, `restarted again and again (${startTimes.length} starts)`);
  const backoffs = lines.filter((l) => l.event === 'capability-failed' && l.capability === 'crashy').map((l) => l.restartInMs);
  t.same(backoffs.slice(0, 4), [40, 80, 160, 320], 'the backoff doubles from restartInitialMs');
  const gaps = startTimes.slice(1).map((s, i) => s - startTimes[i]);
  t.ok(gaps.every((g, i) => g >= (backoffs[i] as number)), `and each restart waited at least its backoff: ${gaps.join(', ')} ms`);
  t.ok(report.restarts >= 3, 'restarts counted');
  t.match(report.lastError, /boom/, 'the crash is reported');
  t.ok(lines.some((l) => l.event === 'capability-failed' && l.capability === 'crashy' && typeof l.restartInMs === 'number'), 'a log line names the capability and the backoff');
  const otherReport = sup.reports().find((r) => r.name === 'other')!;
  t.equal(otherReport.state, 'running', 'the other capability kept running');
  t.equal(other.c.starts, 1, 'and was never restarted');
  const restarts = await metrics.registry.getSingleMetricAsString('salvor_capability_restarts_total');
  t.match(restarts, /salvor_capability_restarts_total\{capability="crashy"\} [3-9]/, 'restarts are in the metrics');
  await sup.stopAll();
  t.equal(other.c.stops, 1, 'stopAll stops each running capability once');
});

t.test('failed health checks restart a capability; a failed start is retried', async (t) => {
  const { sup } = harness();
  let healthy = false;
  let starts = 0;
  const sick: Capability = {
    name: 'sick',
    configKey: 'sick',
    async start() {
      starts++;
      if (starts === 1) throw new Error('device not ready');
      return { done: new Promise(() => undefined), health: () => ({ ok: healthy, detail: 'stuck' }), status: () => ({}), stop: async () => undefined };
    },
  };
  await sup.add([sick]);
  t.equal(sup.reports()[0].state, 'backoff', 'a failed start leaves it in backoff, not thrown');
  t.match(sup.reports()[0].lastError, /device not ready/);
  for (let waited = 0; starts < 3 && waited < 10_000; waited += 20) await sleep(20);
  t.ok(starts >= 3, `started again after the failed start, and again after three failed checks (${starts} starts)`);
  t.match(sup.reports()[0].lastError, /unhealthy 3 checks in a row: stuck/);
  healthy = true;
  await sleep(500);
  const before = starts;
  await sleep(200);
  t.equal(starts, before, 'healthy again: no more restarts');
  t.equal(sup.reports()[0].state, 'running');
  await sup.stopAll();
  t.equal(sup.reports()[0].state, 'stopped');
});

t.test('a capability that does not stop in time does not hold up the others', async (t) => {
  const { sup, lines } = harness();
  const stuck: Capability = {
    name: 'stuck',
    configKey: 'stuck',
    async start() {
      return { done: new Promise(() => undefined), health: () => ({ ok: true }), status: () => ({}), stop: () => new Promise(() => undefined) };
    },
  };
  const other = steady('other');
  await sup.add([stuck, other.cap]);
  const t0 = Date.now();
  await sup.stopAll();
  const took = Date.now() - t0;
  t.ok(took >= 450 && took < 10_000, `stopAll returned once the stop bound passed (${took} ms), not never`);
  t.equal(other.c.stops, 1, 'the other one stopped');
  t.ok(lines.some((l) => l.event === 'stop-timeout' && l.capability === 'stuck'), 'the overrun is logged');
});
