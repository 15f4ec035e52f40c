/**
 * Offline analysis of a recorded trace: replays its samples through the same detector the watcher
 * runs, with the trace's own timestamps as the clock. A trace has no restart information, so it is
 * one segment. The verdict is 'leak' when the detector confirmed a leak at any point.
 */
import { renderLeakChart } from './leak-chart';
import { LeakDetector } from './leak-detector';
import type { LeakOptions } from './leak-options';
import type { TraceSample } from './trace-csv';

export interface TraceVerdict {
  verdict: 'leak' | 'no-leak';
  /** The score at detection for a leak; otherwise the highest score the trace reached. */
  score: number;
  detectedAtMs: number | null;
  /** The growth rate at the end of the trace: Theil-Sen slope of the troughs over the last short window (1 h). */
  slopeBytesPerHour: number;
}

export interface TraceAnalysis extends TraceVerdict {
  /** The chart of the trace with the trend and the detection marker. */
  svg(title: string): string;
}

export function analyzeTrace(samples: TraceSample[], options: Partial<LeakOptions> = {}, limitBytes?: number): TraceAnalysis {
  const detector = new LeakDetector(options);
  let detected: { tMs: number; score: number; trend: NonNullable<LeakDetector['assessment']>['trend'] } | undefined;
  for (const s of samples) {
    for (const tr of detector.add(s.tMs, s.bytes, 'trace', limitBytes)) {
      if (tr.kind === 'confirmed' && !detected && tr.assessment) {
        detected = { tMs: tr.tMs, score: tr.score, trend: tr.assessment.trend };
      }
    }
  }
  const final = detector.assessment;
  const trend = detected?.trend ?? final?.trend;
  return {
    verdict: detected ? 'leak' : 'no-leak',
    score: detected ? detected.score : detector.maxScore,
    detectedAtMs: detected ? detected.tMs : null,
    slopeBytesPerHour: Math.round(final?.shortSlopeBytesPerHour ?? 0),
    svg: (title) => renderLeakChart({ title, samples, trend, detectedAtMs: detected?.tMs ?? null }),
  };
}
