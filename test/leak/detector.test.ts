import t from 'tap';
import { LeakDetector } from '../../lib/leak/leak-detector';
import { MemoryHistory } from '../../lib/leak/memory-history';
import { resolveLeakOptions } from '../../lib/leak/leak-options';
import { generateTrace, type TraceClass } from '../../tools/leak-eval/trace-generators';
import { salvorDetector } from '../../tools/leak-eval/evaluate';

const HOUR = 3_600_000;
const MiB = 1048576;
const detector = salvorDetector();

t.test('no false alert on sawtooth, warm-up and burst traces', async (t) => {
  for (const cls of ['sawtooth', 'warm-up', 'bursts', 'cache-evict', 'fragmentation'] as TraceClass[]) {
    for (const seed of [11, 12, 13]) {
      const alerts = detector.alerts(generateTrace(cls, seed, { durationMs: 8 * HOUR }));
      t.same(alerts, [], `${cls} seed ${seed}: no alert`);
    }
  }
});

t.test('leaks are detected after they begin', async (t) => {
  let checked = 0;
  for (const cls of ['linear', 'stepwise', 'sawtooth-leak', 'restart-leak'] as TraceClass[]) {
    for (const seed of [2, 9]) {
      const tr = generateTrace(cls, seed, { durationMs: 12 * HOUR });
      if (tr.rateBytesPerHour < 5 * MiB) continue; // slow leaks need longer than a test should run: the harness covers them
      const alerts = detector.alerts(tr);
      t.ok(alerts.length > 0, `${cls} seed ${seed} (${(tr.rateBytesPerHour / MiB).toFixed(1)} MiB/h) detected`);
      t.ok(alerts[0] >= (tr.leakStartMs ?? 0), 'not before the leak began');
      checked++;
    }
  }
  t.ok(checked >= 6, `enough leaks checked (${checked})`);
});

t.test('a restart starts a new segment and clears a suspect', async (t) => {
  const d = new LeakDetector();
  const kinds: string[] = [];
  let t0 = 0;
  for (; t0 < 3 * HOUR; t0 += 5000) for (const tr of d.add(t0, 50 * MiB + (20 * MiB * t0) / HOUR, 'a')) kinds.push(tr.kind);
  t.same(kinds, ['suspect', 'confirmed'], 'the leaking first instance is confirmed');
  const restart = d.add(t0, 50 * MiB, 'b');
  t.same(restart.map((r) => [r.kind, r.reason]), [['cleared', 'restart']]);
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
});
