/**
 * Offline analysis of a recorded trace: replays its samples through the same detector the watcher
 * runs, with the trace's own timestamps as the clock. A trace has no restart information, so it is
 * one segment. The verdict is 'leak' when an alert is firing at the end of the trace.
 */
import { renderLeakChart } from './leak-chart';
import { LeakDetector, type LeakAlert } from './leak-detector';
import type { LeakOptions } from './leak-options';
import type { TraceSample } from './trace-csv';

export interface TraceVerdict {
  verdict: 'leak' | 'no-leak';
  /** The score at the end of the trace (0 when the trace is too short to score). */
  score: number;
  /** When the alert still firing at the end first fired; null without one. */
  detectedAtMs: number | null;
  /** The growth rate at the end of the trace: Theil-Sen slope of the troughs over the last short window (1 h). */
  slopeBytesPerHour: number;
  /** Every alert over the trace; resolvedAtMs null for one still firing at the end. */
  alerts: LeakAlert[];
}

export interface TraceAnalysis extends TraceVerdict {
  /** The chart of the trace with the trend and the detection marker. */
  svg(title: string): string;
}

export function analyzeTrace(samples: TraceSample[], options: Partial<LeakOptions> = {}, limitBytes?: number): TraceAnalysis {
  const detector = new LeakDetector(options);
  let firedTrend: NonNullable<LeakDetector['assessment']>['trend'] | undefined;
  for (const s of samples) {
    for (const tr of detector.add(s.tMs, s.bytes, 'trace', limitBytes)) {
      if (tr.kind === 'confirmed' && tr.assessment) firedTrend = tr.assessment.trend;
    }
  }
  const final = detector.assessment;
  const firing = detector.firing;
  const trend = firing ? firedTrend : final?.trend;
  const detectedAtMs = firing ? firing.firedAtMs : null;
  return {
    verdict: firing ? 'leak' : 'no-leak',
    score: final?.score ?? 0,
    detectedAtMs,
    slopeBytesPerHour: Math.round(final?.shortSlopeBytesPerHour ?? 0),
    alerts: detector.alerts,
    svg: (title) => renderLeakChart({ title, samples, trend, detectedAtMs }),
  };
}
