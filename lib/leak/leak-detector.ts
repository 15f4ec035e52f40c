/**
 * One target's detector: feeds samples into a bounded history, scores the current segment each time
 * a bucket closes, and moves between states: watching -> suspect (score passed the threshold: the
 * prediction) -> confirmed (current usage meets every confirmation check: the alert fires). A suspect
 * is cleared when its score falls below the clear threshold. A firing alert resolves once the growth
 * that caused it has stopped long enough (the score below the clear threshold for resolveAfterMs), or
 * the process restarts. Pure: no clock, no I/O.
 */
import { assessGrowth, type GrowthAssessment } from './growth-score';
import { resolveLeakOptions, type LeakOptions } from './leak-options';
import { MemoryHistory } from './memory-history';

export type LeakState = 'watching' | 'suspect' | 'confirmed';

export interface LeakTransition {
  kind: 'suspect' | 'confirmed' | 'cleared' | 'resolved';
  tMs: number;
  score: number;
  assessment: GrowthAssessment | undefined;
  /** For 'cleared' and 'resolved': why ('growth-stopped' for an alert whose growth stopped). */
  reason?: 'score' | 'restart' | 'growth-stopped' | 'exit';
  /** For 'resolved': when the alert fired. */
  firedAtMs?: number;
}

/** One alert's life: when it fired, and when it resolved (null while it still fires). */
export interface LeakAlert {
  firedAtMs: number;
  resolvedAtMs: number | null;
}

export class LeakDetector {
  readonly options: LeakOptions;
  readonly history: MemoryHistory;
  private stateNow: LeakState = 'watching';
  private last: GrowthAssessment | undefined;
  private peakScore = 0;
  private quietSinceMs: number | null = null;
  private readonly alertList: LeakAlert[] = [];

  constructor(options: Partial<LeakOptions> | LeakOptions = {}) {
    this.options = resolveLeakOptions(options);
    this.history = new MemoryHistory(this.options);
  }

  get state(): LeakState {
    return this.stateNow;
  }

  get assessment(): GrowthAssessment | undefined {
    return this.last;
  }

  get maxScore(): number {
    return this.peakScore;
  }

  /** Every alert so far, oldest first (copies). */
  get alerts(): LeakAlert[] {
    return this.alertList.map((a) => ({ ...a }));
  }

  /** The alert firing now, if any. */
  get firing(): LeakAlert | undefined {
    const a = this.alertList[this.alertList.length - 1];
    return a && a.resolvedAtMs === null ? { ...a } : undefined;
  }

  /**
   * Adds one sample. `instance` names the process instance (a restart changes it); `limitBytes`
   * is the memory limit the projection aims at. Returns the transitions it caused, usually none.
   */
  add(tMs: number, bytes: number, instance: string, limitBytes?: number): LeakTransition[] {
    const restarted = this.history.segment !== undefined && this.history.segment.instance !== instance;
    const closed = this.history.add(tMs, bytes, instance);
    if (restarted) {
      const out = this.end(tMs, 'restart');
      this.last = undefined;
      return out;
    }
    if (!closed) return [];
    // Only the buckets the long window can use are read, in place.
    const o = this.options;
    const minima = this.history.minima;
    const segmentStartMs = this.history.segment?.startMs ?? tMs;
    const all = minima.since(-Infinity);
    const nowMs = all.startMs.length ? all.startMs[all.startMs.length - 1] + o.bucketMs : tMs;
    const a = assessGrowth(minima.since(nowMs - o.longWindowMs - o.bucketMs), segmentStartMs, nowMs, bytes, o, limitBytes);
    this.last = a;
    if (!a) return [];
    return this.step(tMs, a);
  }

  /** Ends whatever is open (the process restarted or can no longer be read). */
  end(tMs: number, reason: 'restart' | 'exit'): LeakTransition[] {
    const out: LeakTransition[] = [];
    const firing = this.firing;
    if (firing) {
      this.alertList[this.alertList.length - 1].resolvedAtMs = tMs;
      out.push({ kind: 'resolved', tMs, score: 0, assessment: this.last, reason, firedAtMs: firing.firedAtMs });
    } else if (this.stateNow === 'suspect') out.push({ kind: 'cleared', tMs, score: 0, assessment: this.last, reason });
    this.stateNow = 'watching';
    this.quietSinceMs = null;
    return out;
  }

  private step(tMs: number, a: GrowthAssessment): LeakTransition[] {
    const o = this.options;
    const out: LeakTransition[] = [];
    if (a.score > this.peakScore) this.peakScore = a.score;
    if (this.stateNow === 'confirmed') {
      if (a.score >= o.clearThreshold) this.quietSinceMs = null;
      else if (this.quietSinceMs === null) this.quietSinceMs = tMs;
      if (this.quietSinceMs !== null && tMs - this.quietSinceMs >= o.resolveAfterMs) {
        const alert = this.alertList[this.alertList.length - 1];
        alert.resolvedAtMs = tMs;
        this.stateNow = 'watching';
        this.quietSinceMs = null;
        out.push({ kind: 'resolved', tMs, score: a.score, assessment: a, reason: 'growth-stopped', firedAtMs: alert.firedAtMs });
      }
      return out;
    }
    if (this.stateNow === 'watching' && a.score >= o.scoreThreshold) {
      this.stateNow = 'suspect';
      out.push({ kind: 'suspect', tMs, score: a.score, assessment: a });
    }
    if (this.stateNow === 'suspect' && a.score >= o.scoreThreshold && confirmable(a)) {
      this.stateNow = 'confirmed';
      this.quietSinceMs = null;
      this.alertList.push({ firedAtMs: tMs, resolvedAtMs: null });
      out.push({ kind: 'confirmed', tMs, score: a.score, assessment: a });
    } else if (this.stateNow === 'suspect' && a.score < o.clearThreshold) {
      this.stateNow = 'watching';
      out.push({ kind: 'cleared', tMs, score: a.score, assessment: a, reason: 'score' });
    }
    return out;
  }
}

/** Every confirmation check met. */
export function confirmable(a: GrowthAssessment): boolean {
  return a.checks.currentOnTrend && a.checks.minGrowth && a.checks.minRate && a.checks.withinHorizon && a.checks.sustained;
}
