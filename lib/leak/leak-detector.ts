/**
 * One target's detector: feeds samples into a bounded history, scores the current segment each time
 * a bucket closes, and moves between states: watching -> suspect (score passed the threshold: the
 * prediction) -> confirmed (current usage meets every confirmation check) -> cleared (score fell
 * below the clear threshold, or the process restarted). Pure: no clock, no I/O.
 */
import { assessGrowth, type GrowthAssessment } from './growth-score';
import { resolveLeakOptions, type LeakOptions } from './leak-options';
import { MemoryHistory } from './memory-history';

export type LeakState = 'watching' | 'suspect' | 'confirmed';

export interface LeakTransition {
  kind: 'suspect' | 'confirmed' | 'cleared';
  tMs: number;
  score: number;
  assessment: GrowthAssessment | undefined;
  /** For 'cleared': why. */
  reason?: 'score' | 'restart';
}

export class LeakDetector {
  readonly options: LeakOptions;
  readonly history: MemoryHistory;
  private stateNow: LeakState = 'watching';
  private last: GrowthAssessment | undefined;
  private peakScore = 0;
  /** When the first confirmation happened (sample time), if ever. */
  confirmedAtMs: number | null = null;

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

  /**
   * Adds one sample. `instance` names the process instance (a restart changes it); `limitBytes`
   * is the memory limit the projection aims at. Returns the transitions it caused, usually none.
   */
  add(tMs: number, bytes: number, instance: string, limitBytes?: number): LeakTransition[] {
    const out: LeakTransition[] = [];
    const restarted = this.history.segment !== undefined && this.history.segment.instance !== instance;
    const closed = this.history.add(tMs, bytes, instance);
    if (restarted) {
      if (this.stateNow !== 'watching') out.push({ kind: 'cleared', tMs, score: 0, assessment: this.last, reason: 'restart' });
      this.stateNow = 'watching';
      this.last = undefined;
      return out;
    }
    if (!closed) return out;
    const a = assessGrowth(this.history.segmentBuckets(), this.options, limitBytes);
    this.last = a;
    if (!a) return out;
    if (a.score > this.peakScore) this.peakScore = a.score;
    if (this.stateNow === 'watching' && a.score >= this.options.scoreThreshold) {
      this.stateNow = 'suspect';
      out.push({ kind: 'suspect', tMs, score: a.score, assessment: a });
    }
    if (this.stateNow === 'suspect' && a.score >= this.options.scoreThreshold && confirmable(a)) {
      this.stateNow = 'confirmed';
      if (this.confirmedAtMs === null) this.confirmedAtMs = tMs;
      out.push({ kind: 'confirmed', tMs, score: a.score, assessment: a });
    } else if (this.stateNow !== 'watching' && a.score < this.options.clearThreshold) {
      this.stateNow = 'watching';
      out.push({ kind: 'cleared', tMs, score: a.score, assessment: a, reason: 'score' });
    }
    return out;
  }
}

/** Every confirmation check met. */
export function confirmable(a: GrowthAssessment): boolean {
  return a.checks.newHighWater && a.checks.minGrowth && a.checks.minRate && a.checks.withinHorizon && a.checks.sustained;
}
