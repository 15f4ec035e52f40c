import t from 'tap';
import { LeakDetector } from '../../lib/leak/leak-detector';
import { MemoryHistory } from '../../lib/leak/memory-history';
import { resolveLeakOptions } from '../../lib/leak/leak-options';
import { generateTrace, type TraceClass } from '../../tools/leak-eval/trace-generators';
import { salvorDetector } from '../../tools/leak-eval/evaluate';

const HOUR = 3_600_000;
const MiB = 1048576;
const detector = salvorDetector();

t.test('no alert at all on a GC sawtooth, bursts or a cache that evicts', async (t) => {
  for (const cls of ['sawtooth', 'bursts', 'cache-evict'] as TraceClass[]) {
    for (const seed of [11, 12]) {
      const { alerts } = detector.run(generateTrace(cls, seed, { durationMs: 8 * HOUR }));
      t.same(alerts, [], `${cls} seed ${seed}: no alert`);
    }
  }
});

t.test('growth that stops or repeats is not a leak at the end of the trace', async (t) => {
  for (const cls of ['warm-up', 'cache-fill', 'load-cycle', 'fragmentation', 'level-shift', 'backup-bursts', 'mmap-file'] as TraceClass[]) {
    for (const seed of [11, 12]) {
      const { alerts, finalScore } = detector.run(generateTrace(cls, seed));
      t.notOk(alerts.some((a) => a.resolvedAtMs === null), `${cls} seed ${seed}: no alert firing at the end`);
      t.ok((finalScore ?? 0) <= 2, `${cls} seed ${seed}: final score ${finalScore} at most 2`);
    }
  }
});

t.test('leaks are detected after they begin, and still firing at the end', async (t) => {
  let checked = 0;
  for (const cls of ['linear', 'stepwise', 'sawtooth-leak', 'restart-leak', 'slow-leak', 'late-leak'] as TraceClass[]) {
    for (const seed of [2, 9]) {
      const tr = generateTrace(cls, seed);
      const { alerts, finalScore } = detector.run(tr);
      const firing = alerts.find((a) => a.resolvedAtMs === null);
      t.ok(firing, `${cls} seed ${seed} (${(tr.rateBytesPerHour / MiB).toFixed(1)} MiB/h) firing at the end`);
      t.ok(firing && firing.firedAtMs >= (tr.leakStartMs ?? 0), 'fired after the leak began');
      t.ok((finalScore ?? 0) >= 3, `final score ${finalScore} at least 3`);
      checked++;
    }
  }
  t.equal(checked, 12);
});

t.test('an alert resolves once the growth has stopped long enough, and fires again when it resumes', async (t) => {
  const d = new LeakDetector();
  const kinds: [string, number, string | undefined][] = [];
  const at = (tMs: number): number => {
    const h = tMs / HOUR;
    const leaking = Math.min(h, 4) + Math.max(0, h - 9); // leaks 4 h, holds 5 h, leaks again
    return 80 * MiB + 20 * MiB * leaking + ((tMs / 5000) % 5) * 4096;
  };
  for (let tMs = 0; tMs < 13 * HOUR; tMs += 5000) for (const tr of d.add(tMs, at(tMs), 'a')) kinds.push([tr.kind, Math.round(tr.tMs / 60_000), tr.reason]);
  t.same(kinds.map((k) => k[0]), ['suspect', 'confirmed', 'resolved', 'suspect', 'confirmed'], JSON.stringify(kinds));
  const alerts = d.alerts;
  t.equal(alerts.length, 2);
  t.ok(alerts[0].firedAtMs < 2 * HOUR, 'the first fires within the first two hours');
  t.ok((alerts[0].resolvedAtMs as number) > 5 * HOUR && (alerts[0].resolvedAtMs as number) < 8 * HOUR, `resolves after the plateau has lasted long enough (${kinds[2][1]} min)`);
  t.equal(kinds[2][2], 'growth-stopped');
  t.equal(alerts[1].resolvedAtMs, null, 'the second still fires');
  t.ok(alerts[1].firedAtMs > 9 * HOUR);
  t.same(d.firing, alerts[1]);
});

t.test('a restart starts a new segment and clears a suspect', async (t) => {
  const d = new LeakDetector();
  const kinds: string[] = [];
  let t0 = 0;
  for (; t0 < 3 * HOUR; t0 += 5000) for (const tr of d.add(t0, 50 * MiB + (20 * MiB * t0) / HOUR, 'a')) kinds.push(tr.kind);
  t.same(kinds, ['suspect', 'confirmed'], 'the leaking first instance is confirmed');
  const restart = d.add(t0, 50 * MiB, 'b');
  t.same(restart.map((r) => [r.kind, r.reason]), [['resolved', 'restart']], 'a restart resolves the alert');
  t.equal(d.alerts[0].resolvedAtMs, t0);
  t.equal(d.state, 'watching');
  t.equal(d.history.segmentCount, 2);
  t.equal(d.history.segmentBuckets().length, 0, 'statistics start over on the new segment');
  // The drop at the restart is no leak, and the flat second instance raises nothing.
  const later: string[] = [];
  for (let t1 = t0 + 5000; t1 < t0 + 4 * HOUR; t1 += 5000) for (const tr of d.add(t1, 50 * MiB + ((t1 / 5000) % 7) * 4096, 'b')) later.push(tr.kind);
  t.same(later, []);
});

t.test('history stays bounded however long it runs', async (t) => {
  const h = new MemoryHistory();
  const limits = h.limits;
  for (let i = 0; i < 200_000; i++) h.add(i * 5000, 1e8 + (i % 100), i < 100_000 ? 'a' : 'b'); // 11.5 days at 5 s
  const f = h.footprint();
  t.equal(f.raw, limits.rawCapacity);
  t.equal(f.buckets, limits.bucketCapacity);
  t.ok(f.coarse <= limits.coarseCapacity);
  t.equal(h.coarseList().length, limits.coarseCapacity, 'the coarse ring filled up and wrapped');
  t.equal(h.raw().length, limits.rawCapacity);
  t.equal(h.raw()[limits.rawCapacity - 1].tMs, 199_999 * 5000, 'the newest sample is last');
  const d = new LeakDetector();
  for (let i = 0; i < 50_000; i++) d.add(i * 5000, 1e8, 'x');
  t.ok(d.history.footprint().buckets <= d.options.bucketCapacity);
});

t.test('options: nonsense is bad input', async (t) => {
  t.throws(() => resolveLeakOptions({ bucketMs: 0 }), { code: 'SALVOR_BAD_INPUT' });
  t.throws(() => resolveLeakOptions({ scoreThreshold: 3, clearThreshold: 5 }), { code: 'SALVOR_BAD_INPUT' });
  t.throws(() => resolveLeakOptions({ minAgeMs: Number.NaN }), /minAgeMs/);
  t.throws(() => resolveLeakOptions({ resolveAfterMs: -1 }), /resolveAfterMs/);
});
