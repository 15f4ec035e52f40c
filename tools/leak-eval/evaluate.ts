/**
 * Runs a detector over labelled traces and scores it on the verdict at the end of each trace (an
 * alert firing then): precision and recall, time to detect (from the leak's start to the firing of
 * the alert still firing at the end), the share of non-leak traces where an alert fired and later
 * resolved, and the final score, each per class.
 */
import { LeakDetector, type LeakAlert } from '../../lib/leak/leak-detector';
import type { LeakOptions } from '../../lib/leak/leak-options';
import type { LabelledTrace, TraceClass } from './trace-generators';

const HOUR = 3_600_000;
const MiB = 1024 * 1024;

export interface TraceOutcome {
  /** Every alert over the trace; resolvedAtMs null for one still firing at the end. */
  alerts: LeakAlert[];
  /** The score at the end of the trace (null for a detector without one). */
  finalScore: number | null;
}

/** Any detector the harness can score: fed sample by sample, answers with its alerts. */
export interface TraceDetector {
  name: string;
  run(trace: LabelledTrace): TraceOutcome;
}

export function salvorDetector(options: Partial<LeakOptions> = {}): TraceDetector {
  return {
    name: 'salvor',
    run(trace) {
      const d = new LeakDetector(options);
      for (let i = 0; i < trace.tMs.length; i++) d.add(trace.tMs[i], trace.bytes[i], String(trace.instance[i]), trace.limitBytes);
      return { alerts: d.alerts, finalScore: d.assessment?.score ?? 0 };
    },
  };
}

/**
 * The anchor: an ordinary least-squares line over the last hour of samples, refitted every minute;
 * an alert fires while the slope passes `minRateBytesPerHour` with R-squared at least 0.8 and
 * resolves when the fit falls below.
 */
export function naiveRegressionDetector(minRateBytesPerHour = 0.25 * MiB): TraceDetector {
  return {
    name: 'naive-ols',
    run(trace) {
      const alerts: LeakAlert[] = [];
      const per = Math.max(1, Math.round(60_000 / trace.intervalMs));
      const window = Math.round(HOUR / trace.intervalMs);
      for (let end = window; end <= trace.tMs.length; end += per) {
        let sx = 0, sy = 0, sxx = 0, sxy = 0, syy = 0;
        const x0 = trace.tMs[end - window];
        for (let i = end - window; i < end; i++) {
          const x = (trace.tMs[i] - x0) / HOUR;
          const y = trace.bytes[i];
          sx += x; sy += y; sxx += x * x; sxy += x * y; syy += y * y;
        }
        const n = window;
        const cov = sxy - (sx * sy) / n;
        const vx = sxx - (sx * sx) / n;
        const vy = syy - (sy * sy) / n;
        const slope = cov / vx;
        const r2 = vy > 0 ? (cov * cov) / (vx * vy) : 0;
        const alert = slope >= minRateBytesPerHour && r2 >= 0.8;
        const open = alerts.length > 0 && alerts[alerts.length - 1].resolvedAtMs === null;
        if (alert && !open) alerts.push({ firedAtMs: trace.tMs[end - 1], resolvedAtMs: null });
        if (!alert && open) alerts[alerts.length - 1].resolvedAtMs = trace.tMs[end - 1];
      }
      return { alerts, finalScore: null };
    },
  };
}

export interface ClassFigures {
  cls: TraceClass;
  leak: boolean;
  traces: number;
  /** Traces whose verdict at the end is leak (for a leak class: detected; otherwise false alarms). */
  flagged: number;
  /** Non-leak traces where an alert fired and later resolved. */
  firedAndResolved: number;
  medianDetectMin: number | null;
  p90DetectMin: number | null;
  /** The same over this class's leaks of at least 10 MiB/h. */
  fastMedianDetectMin: number | null;
  fastCount: number;
  /** Median and highest score at the end of the trace. */
  medianFinalScore: number | null;
  maxFinalScore: number | null;
}

export interface EvaluationFigures {
  detector: string;
  traces: number;
  precision: number;
  recall: number;
  /** Share of non-leak traces where an alert fired and later resolved. */
  firedAndResolvedShare: number;
  /** Leaks of at least 10 MiB/h: median and p90 time to detect (minutes). */
  fastLeakMedianDetectMin: number | null;
  fastLeakP90DetectMin: number | null;
  perClass: ClassFigures[];
}

function quantile(sorted: number[], q: number): number | null {
  if (!sorted.length) return null;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  return sorted[lo] + (sorted[Math.min(lo + 1, sorted.length - 1)] - sorted[lo]) * (pos - lo);
}

const round1 = (v: number | null): number | null => (v === null ? null : Math.round(v * 10) / 10);
const sorted = (v: number[]): number[] => [...v].sort((a, b) => a - b);

export function evaluate(detector: TraceDetector, traces: LabelledTrace[]): EvaluationFigures {
  const byClass = new Map<TraceClass, { leak: boolean; traces: number; flagged: number; firedAndResolved: number; detect: number[]; fast: number[]; scores: number[] }>();
  let tp = 0, fp = 0, fn = 0, steady = 0, firedAndResolved = 0;
  const fast: number[] = [];
  for (const trace of traces) {
    const c = byClass.get(trace.cls) ?? { leak: trace.leak, traces: 0, flagged: 0, firedAndResolved: 0, detect: [], fast: [], scores: [] };
    byClass.set(trace.cls, c);
    c.traces++;
    const { alerts, finalScore } = detector.run(trace);
    if (finalScore !== null) c.scores.push(finalScore);
    const firing = alerts.find((a) => a.resolvedAtMs === null);
    if (firing) c.flagged++;
    if (trace.leak) {
      if (firing) {
        tp++;
        const minutes = Math.max(0, firing.firedAtMs - (trace.leakStartMs ?? 0)) / 60_000;
        c.detect.push(minutes);
        if (trace.rateBytesPerHour >= 10 * MiB) {
          fast.push(minutes);
          c.fast.push(minutes);
        }
      } else fn++;
    } else {
      steady++;
      if (firing) fp++;
      if (alerts.some((a) => a.resolvedAtMs !== null)) {
        firedAndResolved++;
        c.firedAndResolved++;
      }
    }
  }
  const perClass: ClassFigures[] = [...byClass].map(([cls, c]) => {
    const d = sorted(c.detect);
    const sc = sorted(c.scores);
    return {
      cls, leak: c.leak, traces: c.traces, flagged: c.flagged, firedAndResolved: c.firedAndResolved,
      medianDetectMin: round1(quantile(d, 0.5)), p90DetectMin: round1(quantile(d, 0.9)),
      fastMedianDetectMin: round1(quantile(sorted(c.fast), 0.5)), fastCount: c.fast.length,
      medianFinalScore: round1(quantile(sc, 0.5)), maxFinalScore: sc.length ? round1(sc[sc.length - 1]) : null,
    };
  });
  const f = sorted(fast);
  return {
    detector: detector.name,
    traces: traces.length,
    precision: tp + fp ? tp / (tp + fp) : 1,
    recall: tp + fn ? tp / (tp + fn) : 1,
    firedAndResolvedShare: steady ? firedAndResolved / steady : 0,
    fastLeakMedianDetectMin: round1(quantile(f, 0.5)),
    fastLeakP90DetectMin: round1(quantile(f, 0.9)),
    perClass,
  };
}

/** A plain table of the figures, one line per class. */
export function formatFigures(f: EvaluationFigures): string[] {
  const lines = [
    `${f.detector} (${f.traces} traces): precision ${f.precision.toFixed(3)}, recall ${f.recall.toFixed(3)}, non-leak traces with an alert that fired and resolved ${(100 * f.firedAndResolvedShare).toFixed(1)} %, ` +
      `leaks >= 10 MiB/h: median ${f.fastLeakMedianDetectMin ?? '-'} min, p90 ${f.fastLeakP90DetectMin ?? '-'} min to detect`,
  ];
  for (const c of f.perClass) {
    const what = c.leak
      ? `detected ${c.flagged}/${c.traces}, median ${c.medianDetectMin ?? '-'} min, p90 ${c.p90DetectMin ?? '-'} min; >= 10 MiB/h (${c.fastCount}): median ${c.fastMedianDetectMin ?? '-'} min`
      : `flagged at the end ${c.flagged}/${c.traces}, fired and resolved ${c.firedAndResolved}/${c.traces}`;
    const score = c.medianFinalScore === null ? '' : `; final score median ${c.medianFinalScore}, max ${c.maxFinalScore}`;
    lines.push(`  ${c.cls.padEnd(14)} ${c.leak ? 'leak    ' : 'no-leak '} ${what}${score}`);
  }
  return lines;
}
