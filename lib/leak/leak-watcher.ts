/**
 * The leak watcher the daemon and `salvor leak watch` run: samples every target each interval from
 * an injected MemorySource on an injected clock, feeds one LeakDetector per target, and emits plain
 * JSON-able events: 'sample' (each reading), 'suspect', 'confirmed' (an alert fires), 'resolved'
 * (it stops: the growth stopped, or the process restarted or exited), 'cleared' (a suspect that was
 * not confirmed), and 'warning' (a hook or a chart that failed). `snapshot()` gives each target's state and recent history.
 */
import { EventEmitter } from 'node:events';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fireAlertHooks, type AlertHooks } from './alert-hooks';
import { renderLeakChart } from './leak-chart';
import { LeakDetector, type LeakState, type LeakTransition } from './leak-detector';
import { resolveLeakOptions, type LeakOptions } from './leak-options';
import { realClock, targetKey, type LeakTarget, type MemoryReading, type MemorySource, type WatchClock } from './memory-source';

export interface LeakWatcherOptions {
  targets?: LeakTarget[];
  /** Also watch every process the source lists, rescanned every `rescanTicks` ticks. */
  all?: boolean;
  rescanTicks?: number;
  /** Sampling interval (default 5000 ms). */
  intervalMs?: number;
  detector?: Partial<LeakOptions>;
  hooks?: AlertHooks;
  /** Where a confirmed leak's SVG chart is written (leak-<target>-<time>.svg); none when absent. */
  chartDir?: string;
  /** Samples kept per target in snapshot() history (at most the detector's raw capacity). */
  snapshotSamples?: number;
}

export type LeakEventName = 'sample' | 'suspect' | 'confirmed' | 'resolved' | 'cleared' | 'warning';

/** Every event: which target, when, and what it found. Plain data: JSON.stringify prints it whole. */
export interface LeakEvent {
  event: LeakEventName;
  tMs: number;
  target: string;
  pid?: number;
  cgroup?: string;
  name: string;
  score: number | null;
  bytes?: number;
  metric?: MemoryReading['metric'];
  slopeBytesPerHour?: number;
  msToLimit?: number | null;
  limitBytes?: number;
  checks?: Record<string, boolean>;
  reason?: string;
  /** For confirmed and resolved: when the alert fired; for resolved: when it resolved. */
  firedAtMs?: number;
  resolvedAtMs?: number;
  smaps?: { anonymousBytes: number; swapBytes: number };
  chart?: string;
  message?: string;
}

interface Watched {
  target: LeakTarget;
  key: string;
  detector: LeakDetector;
  name: string;
  lastReading?: MemoryReading;
  explicit: boolean;
}

export interface TargetSnapshot {
  target: string;
  pid?: number;
  cgroup?: string;
  name: string;
  state: LeakState;
  /** The alert firing now (null when none), and the last one that resolved. */
  alert: { firedAtMs: number; resolvedAtMs: number | null } | null;
  lastResolved: { firedAtMs: number; resolvedAtMs: number | null } | null;
  score: number | null;
  bytes: number | null;
  metric: MemoryReading['metric'] | null;
  slopeBytesPerHour: number | null;
  segments: number;
  history: { tMs: number; bytes: number }[];
  footprint: { raw: number; buckets: number; coarse: number };
}

export class LeakWatcher extends EventEmitter {
  private readonly watched = new Map<string, Watched>();
  private readonly intervalMs: number;
  private readonly detectorOptions: LeakOptions;
  private cancel: (() => void) | undefined;
  private running = false;
  private ticks = 0;
  private inFlight: Promise<void> | undefined;
  private readonly counts = { samples: 0, suspect: 0, confirmed: 0, resolved: 0, cleared: 0 };

  constructor(
    private readonly options: LeakWatcherOptions,
    private readonly source: MemorySource,
    private readonly clock: WatchClock = realClock,
  ) {
    super();
    this.intervalMs = options.intervalMs ?? 5000;
    this.detectorOptions = resolveLeakOptions(options.detector);
    for (const t of options.targets ?? []) this.addTarget(t, true);
  }

  /** Starts watching: the first sample at once, then one every interval. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.cancel = this.clock.schedule(0, () => this.loop());
  }

  /** Stops; resolves once a sampling round in progress has finished. Safe to call twice. */
  async stop(): Promise<void> {
    this.running = false;
    this.cancel?.();
    this.cancel = undefined;
    await this.inFlight;
  }

  addTarget(target: LeakTarget, explicit = true): void {
    const key = targetKey(target);
    if (this.watched.has(key)) return;
    const name = target.kind === 'pid' ? String(target.pid) : target.path;
    this.watched.set(key, { target, key, detector: new LeakDetector(this.detectorOptions), name, explicit });
  }

  private loop(): void {
    if (!this.running) return;
    const started = this.clock.now();
    this.inFlight = this.tick().catch((e: unknown) => this.warn('watcher', `sampling failed: ${(e as Error).message}`));
    void this.inFlight.then(() => {
      if (!this.running) return;
      const spent = this.clock.now() - started;
      this.cancel = this.clock.schedule(Math.max(0, this.intervalMs - spent), () => this.loop());
    });
  }

  /** One sampling round over every target (exposed for callers that drive time themselves). */
  async tick(): Promise<void> {
    if (this.options.all && this.source.listProcesses && this.ticks % (this.options.rescanTicks ?? 12) === 0) {
      const pids = new Set(await this.source.listProcesses());
      for (const pid of pids) this.addTarget({ kind: 'pid', pid }, false);
    }
    this.ticks++;
    const list = [...this.watched.values()];
    const readings = await Promise.all(list.map((w) => this.source.read(w.target).catch(() => undefined)));
    const now = this.clock.now();
    for (let i = 0; i < list.length; i++) {
      const w = list[i];
      const r = readings[i];
      if (!r) {
        this.gone(w, now);
        continue;
      }
      w.name = r.name;
      w.lastReading = r;
      this.counts.samples++;
      const transitions = w.detector.add(now, r.bytes, r.instance, r.limitBytes);
      this.emitEvent({ ...this.base(w, now), event: 'sample', bytes: r.bytes, metric: r.metric });
      for (const tr of transitions) await this.transition(w, tr, r);
    }
  }

  /** A target that can no longer be read: its alert resolves, a suspect is cleared; a process found by --all is dropped. */
  private gone(w: Watched, now: number): void {
    for (const tr of w.detector.end(now, 'exit')) {
      this.counts[tr.kind]++;
      const event: LeakEvent = { ...this.base(w, now), event: tr.kind, reason: 'exit' };
      if (tr.kind === 'resolved') Object.assign(event, { firedAtMs: tr.firedAtMs, resolvedAtMs: now });
      this.emitEvent(event);
      if (tr.kind === 'resolved' && this.options.hooks) void this.fireHooks(w, event);
    }
    if (!w.explicit) this.watched.delete(w.key);
  }

  private async fireHooks(w: Watched, event: LeakEvent): Promise<void> {
    for (const failure of await fireAlertHooks(this.options.hooks as AlertHooks, event)) this.warn(w.key, failure);
  }

  private async transition(w: Watched, tr: LeakTransition, r: MemoryReading): Promise<void> {
    const a = tr.assessment;
    const event: LeakEvent = {
      ...this.base(w, tr.tMs),
      event: tr.kind,
      score: tr.score,
      bytes: r.bytes,
      metric: r.metric,
      ...(a ? { slopeBytesPerHour: Math.round(a.slopeBytesPerHour), msToLimit: a.msToLimit === null ? null : Math.round(a.msToLimit), checks: { ...a.checks } } : {}),
      ...(r.limitBytes !== undefined ? { limitBytes: r.limitBytes } : {}),
      ...(tr.reason ? { reason: tr.reason } : {}),
      ...(tr.kind === 'confirmed' ? { firedAtMs: tr.tMs } : {}),
      ...(tr.kind === 'resolved' ? { firedAtMs: tr.firedAtMs, resolvedAtMs: tr.tMs } : {}),
    };
    this.counts[tr.kind]++;
    if (tr.kind === 'confirmed') {
      const smaps = await this.source.confirm?.(w.target).catch(() => undefined);
      if (smaps) event.smaps = smaps;
      if (this.options.chartDir) event.chart = this.writeChart(w, tr);
    }
    this.emitEvent(event);
    // The hooks hear both ends of an alert's life, as a Prometheus receiver hears firing and resolved.
    if ((tr.kind === 'confirmed' || tr.kind === 'resolved') && this.options.hooks) await this.fireHooks(w, event);
  }

  private writeChart(w: Watched, tr: LeakTransition): string | undefined {
    const file = join(this.options.chartDir as string, `leak-${w.key.replace(/[^A-Za-z0-9_.-]+/g, '_')}-${Math.round(tr.tMs)}.svg`);
    try {
      writeFileSync(file, renderLeakChart({ title: `${w.name} (${w.key})`, samples: w.detector.history.raw(), trend: tr.assessment?.trend, detectedAtMs: tr.tMs }));
      return file;
    } catch (e) {
      this.warn(w.key, `chart ${file}: ${(e as Error).message}`);
      return undefined;
    }
  }

  private base(w: Watched, tMs: number): LeakEvent {
    const t = w.target;
    return {
      event: 'sample',
      tMs,
      target: w.key,
      ...(t.kind === 'pid' ? { pid: t.pid } : { cgroup: t.path }),
      name: w.name,
      score: w.detector.assessment?.score ?? null,
    };
  }

  private warn(target: string, message: string): void {
    this.emitEvent({ event: 'warning', tMs: this.clock.now(), target, name: target, score: null, message });
  }

  private emitEvent(e: LeakEvent): void {
    this.emit(e.event, e);
    this.emit('event', e);
  }

  /** Per-target state and recent history (for a status page chart), plus counters. */
  snapshot(): { tMs: number; intervalMs: number; counts: { samples: number; suspect: number; confirmed: number; resolved: number; cleared: number }; targets: TargetSnapshot[] } {
    const keep = this.options.snapshotSamples ?? 120;
    const targets = [...this.watched.values()].map((w): TargetSnapshot => {
      const a = w.detector.assessment;
      const raw = w.detector.history.raw();
      return {
        target: w.key,
        ...(w.target.kind === 'pid' ? { pid: w.target.pid } : { cgroup: w.target.path }),
        name: w.name,
        state: w.detector.state,
        alert: w.detector.firing ?? null,
        lastResolved: w.detector.alerts.filter((x) => x.resolvedAtMs !== null).pop() ?? null,
        score: a?.score ?? null,
        bytes: w.lastReading?.bytes ?? null,
        metric: w.lastReading?.metric ?? null,
        slopeBytesPerHour: a ? Math.round(a.slopeBytesPerHour) : null,
        segments: w.detector.history.segmentCount,
        history: raw.slice(Math.max(0, raw.length - keep)),
        footprint: w.detector.history.footprint(),
      };
    });
    return { tMs: this.clock.now(), intervalMs: this.intervalMs, counts: { ...this.counts }, targets };
  }
}
