import t, { type Test } from 'tap';
import { createServer } from 'node:http';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { renderStatusPage } from '../../lib/agent/status-page';
import { LeakWatcher, type LeakEvent } from '../../lib/leak/leak-watcher';
import { ManualClock, MemoryTraceSource } from '../../platform/sim/memory-trace-source';
import { generateTrace } from '../../tools/leak-eval/trace-generators';
import { tempDir } from './helpers';

const HOUR = 3_600_000;
const MiB = 1048576;

function setup(t: Test, extra: ConstructorParameters<typeof LeakWatcher>[0] = {}) {
  const clock = new ManualClock(0);
  const leak = generateTrace('linear', 9, { durationMs: 4 * HOUR });
  const steady = generateTrace('sawtooth', 3, { durationMs: 4 * HOUR });
  const source = new MemoryTraceSource(clock, [
    [{ kind: 'pid', pid: 101 }, { name: 'leaky', tMs: leak.tMs, bytes: leak.bytes, limitBytes: 256 * MiB }],
    [{ kind: 'pid', pid: 102 }, { name: 'steady', tMs: steady.tMs, bytes: steady.bytes, limitBytes: 256 * MiB, exitAtMs: 3 * HOUR }],
    [{ kind: 'cgroup', path: 'system.slice/app.service' }, { name: 'app.service', tMs: steady.tMs, bytes: steady.bytes }],
  ]);
  const watcher = new LeakWatcher({ targets: [{ kind: 'pid', pid: 101 }, { kind: 'pid', pid: 102 }, { kind: 'cgroup', path: 'system.slice/app.service' }], intervalMs: 5000, ...extra }, source, clock);
  const events: LeakEvent[] = [];
  watcher.on('event', (e: LeakEvent) => events.push(e));
  t.teardown(() => watcher.stop());
  return { clock, watcher, events };
}


/** A webhook endpoint on loopback that keeps every JSON body posted to it. */
async function webhookReceiver<T>(t: Test): Promise<{ posted: T[]; port: number }> {
  const posted: T[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      posted.push(JSON.parse(body) as T);
      res.end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => server.close());
  return { posted, port: (server.address() as { port: number }).port };
}

t.test('watcher: samples every target, confirms the leaker only, clears a suspect that exits', async (t) => {
  const dir = tempDir(t);
  const { clock, watcher, events } = setup(t, { chartDir: dir });
  watcher.start();
  await clock.advance(4 * HOUR - 10_000);
  await watcher.stop();
  const samples = events.filter((e) => e.event === 'sample');
  t.ok(samples.length > 2 * 2800 + 2100, `one sample per target per 5 s while it lives (${samples.length})`);
  const confirmed = events.filter((e) => e.event === 'confirmed');
  t.same(confirmed.map((e) => e.pid), [101], 'only the leaker is confirmed');
  const c = confirmed[0];
  t.equal(c.name, 'leaky');
  t.ok((c.score as number) >= 6);
  t.equal(c.firedAtMs, c.tMs, 'a confirmed event carries when the alert fired');
  t.ok((c.slopeBytesPerHour as number) > 5 * MiB);
  t.same(c.smaps, { anonymousBytes: c.bytes, swapBytes: 0 }, 'confirmation took the closer reading');
  t.ok(c.chart && existsSync(c.chart), 'a chart was written');
  t.match(readFileSync(c.chart as string, 'utf8'), /class="detection"/);
  t.equal(readdirSync(dir).length, 1);
  t.same(JSON.parse(JSON.stringify(c)), c, 'events are plain JSON');
  t.notOk(events.some((e) => e.event === 'suspect' && e.pid === 102), 'the steady process is never a suspect');

  const snap = watcher.snapshot();
  t.equal(snap.targets.length, 3);
  const leaky = snap.targets.find((s) => s.pid === 101);
  t.equal(leaky?.state, 'confirmed');
  t.equal(leaky?.history.length, 120);
  t.equal(snap.counts.confirmed, 1);
  const gone = snap.targets.find((s) => s.pid === 102);
  t.equal(gone?.state, 'watching', 'the exited process is back to watching');
  t.equal(snap.targets.find((s) => s.cgroup)?.name, 'app.service');
});

t.test('watcher: exec hook and webhook get the confirmed event; a failing hook is a warning', async (t) => {
  const dir = tempDir(t);
  const { posted, port } = await webhookReceiver<unknown>(t);
  const hookOut = join(dir, 'hook.json');
  const { clock, watcher, events } = setup(t, { hooks: { exec: `cat > ${hookOut}`, webhook: `http://127.0.0.1:${port}/alert` } });
  watcher.start();
  for (let i = 0; i < 48 && !events.some((e) => e.event === 'confirmed'); i++) await clock.advance(5 * 60_000);
  // the hooks run outside the simulated clock: wait for them in real time
  for (let i = 0; i < 100 && (!posted.length || !existsSync(hookOut)); i++) await new Promise((r) => setTimeout(r, 50));
  await watcher.stop();
  t.equal(posted.length, 1, 'one webhook POST');
  t.match(posted[0], { event: 'confirmed', pid: 101, name: 'leaky' });
  t.match(JSON.parse(readFileSync(hookOut, 'utf8')), { event: 'confirmed', pid: 101 });

  const failing = setup(t, { hooks: { exec: 'exit 3' } });
  failing.watcher.start();
  for (let i = 0; i < 48 && !failing.events.some((e) => e.event === 'warning'); i++) {
    await failing.clock.advance(5 * 60_000);
    await new Promise((r) => setTimeout(r, 5));
  }
  for (let i = 0; i < 100 && !failing.events.some((e) => e.event === 'warning'); i++) await new Promise((r) => setTimeout(r, 50));
  await failing.watcher.stop();
  t.match(failing.events.find((e) => e.event === 'warning')?.message, /exit 3/);
});

t.test('watcher --all finds processes from the source and drops those that exit', async (t) => {
  const clock = new ManualClock(1000);
  const tr = generateTrace('sawtooth', 1, { durationMs: HOUR });
  const source = new MemoryTraceSource(clock, [
    [{ kind: 'pid', pid: 7 }, { name: 'a', tMs: tr.tMs, bytes: tr.bytes }],
    [{ kind: 'pid', pid: 8 }, { name: 'b', tMs: tr.tMs, bytes: tr.bytes, exitAtMs: 100_000 }],
  ]);
  const watcher = new LeakWatcher({ all: true, intervalMs: 5000 }, source, clock);
  watcher.start();
  await clock.advance(30_000);
  t.same(watcher.snapshot().targets.map((s) => s.name).sort(), ['a', 'b']);
  await clock.advance(200_000);
  t.same(watcher.snapshot().targets.map((s) => s.name), ['a'], 'the exited one is dropped');
  await watcher.stop();
  await watcher.stop();
});

t.test('watcher: an alert that resolves reaches the webhook twice, the snapshot and the status page', async (t) => {
  const { posted, port } = await webhookReceiver<{ event: string; firedAtMs?: number; resolvedAtMs?: number }>(t);
  // Grows 20 MiB/h for 3 h, then holds for 4 h: the alert fires, then resolves.
  const n = (7 * HOUR) / 5000;
  const tMs = Float64Array.from({ length: n }, (_, i) => i * 5000);
  const bytes = Float64Array.from(tMs, (v) => 60 * MiB + (20 * MiB * Math.min(v, 3 * HOUR)) / HOUR + (v % 7) * 4096);
  const clock = new ManualClock(0);
  const source = new MemoryTraceSource(clock, [[{ kind: 'pid', pid: 301 }, { name: 'filler', tMs, bytes, limitBytes: 1024 * MiB }]]);
  const watcher = new LeakWatcher({ targets: [{ kind: 'pid', pid: 301 }], intervalMs: 5000, hooks: { webhook: `http://127.0.0.1:${port}/alert` } }, source, clock);
  const events: LeakEvent[] = [];
  watcher.on('event', (e: LeakEvent) => events.push(e));
  t.teardown(() => watcher.stop());
  watcher.start();
  // Steps of simulated time with a moment of real time between them: a hook runs outside the clock,
  // and the watcher schedules its next round once the hook has answered.
  for (let i = 0; i < 83; i++) {
    await clock.advance(5 * 60_000);
    for (let j = 0; j < 100 && events.some((e) => e.event === 'confirmed' || e.event === 'resolved') && posted.length < events.filter((e) => e.event === 'confirmed' || e.event === 'resolved').length; j++) await new Promise((r) => setTimeout(r, 20));
  }
  await watcher.stop();
  const fired = events.find((e) => e.event === 'confirmed');
  const resolved = events.find((e) => e.event === 'resolved');
  t.ok(fired && resolved, 'fired, then resolved');
  t.equal(resolved?.reason, 'growth-stopped');
  t.equal(resolved?.firedAtMs, fired?.tMs, 'the resolved event names when its alert fired');
  t.ok((resolved?.resolvedAtMs as number) > 3 * HOUR + HOUR, 'resolved once growth had stopped for an hour');
  t.same(posted.map((p) => p.event), ['confirmed', 'resolved'], 'the webhook hears both');
  const snap = watcher.snapshot();
  t.equal(snap.counts.resolved, 1);
  t.equal(snap.targets[0].alert, null, 'no alert firing now');
  t.same(snap.targets[0].lastResolved, { firedAtMs: fired?.tMs, resolvedAtMs: resolved?.resolvedAtMs });
  const page = renderStatusPage({
    version: '0', pid: 1, startedAt: '', uptimeS: 0, stateDir: '/x', config: null, summary: '',
    capabilities: [{ name: 'leak', state: 'running', restarts: 0, detail: { watched: [{ key: 'pid:301', name: 'filler', score: 0, state: 'watching', alert: null, lastResolved: snap.targets[0].lastResolved, samples: [] }] } } as never],
  });
  t.match(page, /class="alert resolved">last alert fired .* resolved /);
});
