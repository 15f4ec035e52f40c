/**
 * Runs a detector over labelled traces and scores it: precision and recall over traces, false
 * alerts per 100 process-days, and the median and p90 time to detect per class.
 */
import { LeakDetector } from '../../lib/leak/leak-detector';
import type { LeakOptions } from '../../lib/leak/leak-options';
import type { LabelledTrace, TraceClass } from './trace-generators';

const HOUR = 3_600_000;

/** Any detector the harness can score: fed sample by sample, answers with confirmed alerts. */
export interface TraceDetector {
  name: string;
  /** Times (ms) of the alerts it raised over the trace. */
  alerts(trace: LabelledTrace): number[];
}

export function salvorDetector(options: Partial<LeakOptions> = {}): TraceDetector {
  return {
    name: 'salvor',
    alerts(trace) {
      const d = new LeakDetector(options);
      const out: number[] = [];
      for (let i = 0; i < trace.tMs.length; i++) {
        for (const tr of d.add(trace.tMs[i], trace.bytes[i], String(trace.instance[i]), trace.limitBytes)) if (tr.kind === 'confirmed') out.push(tr.tMs);
      }
      return out;
    },
  };
}

/**
 * The anchor: an ordinary least-squares line over the last hour of samples, refitted every minute;
 * an alert when the slope passes `minRateBytesPerHour` with R-squared at least 0.8 (re-armed after
 * the fit falls below).
 */
export function naiveRegressionDetector(minRateBytesPerHour = 0.25 * 1024 * 1024): TraceDetector {
  return {
    name: 'naive-ols',
    alerts(trace) {
      const out: number[] = [];
      const per = Math.max(1, Math.round(60_000 / trace.intervalMs));
      const window = Math.round(HOUR / trace.intervalMs);
      let armed = true;
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
        if (alert && armed) out.push(trace.tMs[end - 1]);
        armed = !alert;
      }
      return out;
    },
  };
}

export interface ClassFigures {
  cls: TraceClass;
  leak: boolean;
  traces: number;
  /** Leaks: traces detected after the leak began. Non-leaks: traces with any alert. */
  alerted: number;
  falseAlerts: number;
  medianDetectMin: number | null;
  p90DetectMin: number | null;
  /** The same over this class's leaks of at least 10 MiB/h. */
  fastMedianDetectMin: number | null;
  fastCount: number;
}

export interface EvaluationFigures {
  detector: string;
  precision: number;
  recall: number;
  falseAlertsPer100ProcessDays: number;
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

export function evaluate(detector: TraceDetector, traces: LabelledTrace[]): EvaluationFigures {
  const byClass = new Map<TraceClass, { leak: boolean; traces: number; alerted: number; falseAlerts: number; detect: number[]; fast: number[] }>();
  let tp = 0, fp = 0, fn = 0, falseAlerts = 0, steadyMs = 0;
  const fast: number[] = [];
  for (const trace of traces) {
    const c = byClass.get(trace.cls) ?? { leak: trace.leak, traces: 0, alerted: 0, falseAlerts: 0, detect: [], fast: [] };
    byClass.set(trace.cls, c);
    c.traces++;
    const alerts = detector.alerts(trace);
    const span = trace.tMs[trace.tMs.length - 1] - trace.tMs[0];
    if (trace.leak) {
      const start = trace.leakStartMs ?? 0;
      const early = alerts.filter((t) => t < start);
      const hit = alerts.find((t) => t >= start);
      c.falseAlerts += early.length;
      falseAlerts += early.length;
      steadyMs += start;
      if (early.length) fp++;
      if (hit !== undefined) {
        tp++;
        c.alerted++;
        c.detect.push((hit - start) / 60_000);
        if (trace.rateBytesPerHour >= 10 * 1024 * 1024) {
          fast.push((hit - start) / 60_000);
          c.fast.push((hit - start) / 60_000);
        }
      } else fn++;
    } else {
      steadyMs += span;
      c.falseAlerts += alerts.length;
      falseAlerts += alerts.length;
      if (alerts.length) {
        fp++;
        c.alerted++;
      }
    }
  }
  fast.sort((a, b) => a - b);
  const perClass: ClassFigures[] = [...byClass].map(([cls, c]) => {
    const d = [...c.detect].sort((a, b) => a - b);
    return { cls, leak: c.leak, traces: c.traces, alerted: c.alerted, falseAlerts: c.falseAlerts, medianDetectMin: round1(quantile(d, 0.5)), p90DetectMin: round1(quantile(d, 0.9)), fastMedianDetectMin: round1(quantile([...c.fast].sort((a, b) => a - b), 0.5)), fastCount: c.fast.length };
  });
  return {
    detector: detector.name,
    precision: tp + fp ? tp / (tp + fp) : 1,
    recall: tp + fn ? tp / (tp + fn) : 1,
    falseAlertsPer100ProcessDays: steadyMs ? (falseAlerts / (steadyMs / (24 * HOUR))) * 100 : 0,
    fastLeakMedianDetectMin: round1(quantile(fast, 0.5)),
    fastLeakP90DetectMin: round1(quantile(fast, 0.9)),
    perClass,
  };
}

/** A plain table of the figures, one line per class. */
export function formatFigures(f: EvaluationFigures): string[] {
  const lines = [
    `${f.detector}: precision ${f.precision.toFixed(3)}, recall ${f.recall.toFixed(3)}, false alerts per 100 process-days ${f.falseAlertsPer100ProcessDays.toFixed(2)}, ` +
      `leaks >= 10 MiB/h: median ${f.fastLeakMedianDetectMin ?? '-'} min, p90 ${f.fastLeakP90DetectMin ?? '-'} min to detect`,
  ];
  for (const c of f.perClass) {
    const what = c.leak ? `detected ${c.alerted}/${c.traces}, median ${c.medianDetectMin ?? '-'} min, p90 ${c.p90DetectMin ?? '-'} min; >= 10 MiB/h (${c.fastCount}): median ${c.fastMedianDetectMin ?? '-'} min` : `traces alerted ${c.alerted}/${c.traces}`;
    lines.push(`  ${c.cls.padEnd(14)} ${c.leak ? 'leak    ' : 'no-leak '} ${what}, false alerts ${c.falseAlerts}`);
  }
  return lines;
}
