/**
 * A simulated MemorySource: replays recorded or generated traces (one per target) on a simulated
 * clock, so the watcher runs through a day of samples in a second. Faults: a target can exit at a
 * given time, and reads can fail with a given probability (seeded).
 */
import { targetKey, type ConfirmationReading, type LeakTarget, type MemoryReading, type MemorySource, type WatchClock } from '../../lib/leak/memory-source';

export interface ReplayTrace {
  name: string;
  tMs: ArrayLike<number>;
  bytes: ArrayLike<number>;
  /** Process instance per sample (a change is a restart); all one instance when absent. */
  instance?: ArrayLike<number>;
  limitBytes?: number;
  /** The target is gone from this time on. */
  exitAtMs?: number;
}

/** A clock that only moves when told: schedule() callbacks run as advance() passes their time. */
export class ManualClock implements WatchClock {
  private t: number;
  private queue: { at: number; seq: number; fn: () => void }[] = [];
  private seq = 0;
  constructor(startMs = 0) {
    this.t = startMs;
  }
  now(): number {
    return this.t;
  }
  schedule(ms: number, fn: () => void): () => void {
    const item = { at: this.t + ms, seq: this.seq++, fn };
    this.queue.push(item);
    return () => {
      this.queue = this.queue.filter((q) => q !== item);
    };
  }
  /** Runs due callbacks in time order, letting the promise jobs each one starts settle in between. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      this.queue.sort((a, b) => a.at - b.at || a.seq - b.seq);
      const next = this.queue[0];
      if (!next || next.at > end) break;
      this.queue.shift();
      this.t = Math.max(this.t, next.at);
      next.fn();
      for (let i = 0; i < 20; i++) await Promise.resolve();
      await new Promise<void>((r) => setImmediate(r));
    }
    this.t = end;
  }
}

export interface TraceSourceFaults {
  /** Probability that a read fails as if the target were gone for that tick. */
  readFailure?: number;
  seed?: number;
}

export class MemoryTraceSource implements MemorySource {
  private readonly traces = new Map<string, ReplayTrace>();
  private rng: number;

  constructor(
    private readonly clock: WatchClock,
    traces: [LeakTarget, ReplayTrace][],
    private readonly faults: TraceSourceFaults = {},
  ) {
    for (const [target, trace] of traces) this.traces.set(targetKey(target), trace);
    this.rng = (faults.seed ?? 1) >>> 0 || 1;
  }

  private random(): number {
    this.rng = (Math.imul(this.rng, 1664525) + 1013904223) >>> 0;
    return this.rng / 4294967296;
  }

  /** Index of the last sample at or before `t`, or -1. */
  private indexAt(trace: ReplayTrace, t: number): number {
    let lo = 0;
    let hi = trace.tMs.length - 1;
    if (hi < 0 || trace.tMs[0] > t) return -1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (trace.tMs[mid] <= t) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  async read(target: LeakTarget): Promise<MemoryReading | undefined> {
    const trace = this.traces.get(targetKey(target));
    const now = this.clock.now();
    if (!trace || (trace.exitAtMs !== undefined && now >= trace.exitAtMs)) return undefined;
    if (this.faults.readFailure && this.random() < this.faults.readFailure) return undefined;
    const i = this.indexAt(trace, now);
    if (i < 0) return undefined;
    return {
      bytes: trace.bytes[i],
      metric: target.kind === 'pid' ? 'rss-anon' : 'cgroup-anon',
      instance: String(trace.instance ? trace.instance[i] : 0),
      name: trace.name,
      limitBytes: trace.limitBytes,
    };
  }

  async listProcesses(): Promise<number[]> {
    return [...this.traces.keys()].filter((k) => k.startsWith('pid:')).map((k) => Number(k.slice(4)));
  }

  async confirm(target: LeakTarget): Promise<ConfirmationReading | undefined> {
    const r = await this.read(target);
    return r ? { anonymousBytes: r.bytes, swapBytes: 0 } : undefined;
  }
}
