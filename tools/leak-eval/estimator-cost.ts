/**
 * The detector's cost per sample, and what the sampled Theil-Sen estimator changes: the same traces
 * run with the shipped pair budget and with every pair (slopePairs 0), timed in CPU time of this
 * process (the machines here are shared: wall time would count the neighbours); the alerts, the
 * verdicts at the end and the final slopes compared.
 */
import { LeakDetector } from '../../lib/leak/leak-detector';
import { defaultLeakOptions, type LeakOptions } from '../../lib/leak/leak-options';
import type { LabelledTrace } from './trace-generators';

export interface EstimatorCost {
  traces: number;
  samples: number;
  slopePairs: number;
  sampledUsPerSample: number;
  exactUsPerSample: number;
  sameVerdicts: number;
  /** Traces whose alerts (fired and resolved times) are the same with both estimators. */
  sameAlerts: number;
  /** Largest difference of the final slope, relative to the exact one, over traces where it is at least 1 MiB/h. */
  maxSlopeDifference: number;
  /** Largest absolute difference of the final slope, bytes per hour. */
  maxSlopeDifferenceBytes: number;
}

function replay(trace: LabelledTrace, options: Partial<LeakOptions>): { firing: boolean; alerts: string; slope: number; ms: number } {
  const d = new LeakDetector(options);
  const started = process.cpuUsage();
  for (let i = 0; i < trace.tMs.length; i++) d.add(trace.tMs[i], trace.bytes[i], String(trace.instance[i]), trace.limitBytes);
  const used = process.cpuUsage(started);
  return { firing: d.firing !== undefined, alerts: JSON.stringify(d.alerts), slope: d.assessment?.slopeBytesPerHour ?? 0, ms: (used.user + used.system) / 1000 };
}

/** Runs each trace with both estimators, twice each (the first pass warms up), and keeps the faster pass. */
export function estimatorCost(traces: LabelledTrace[]): EstimatorCost {
  let samples = 0;
  let sampledMs = 0;
  let exactMs = 0;
  let same = 0;
  let sameAlerts = 0;
  let maxRel = 0;
  let maxAbs = 0;
  for (const tr of traces) {
    samples += tr.tMs.length;
    const s = [replay(tr, {}), replay(tr, {})];
    const e = [replay(tr, { slopePairs: 0 }), replay(tr, { slopePairs: 0 })];
    sampledMs += Math.min(s[0].ms, s[1].ms);
    exactMs += Math.min(e[0].ms, e[1].ms);
    if (s[0].firing === e[0].firing) same++;
    if (s[0].alerts === e[0].alerts) sameAlerts++;
    const diff = Math.abs(s[0].slope - e[0].slope);
    maxAbs = Math.max(maxAbs, diff);
    if (Math.abs(e[0].slope) >= 1024 * 1024) maxRel = Math.max(maxRel, diff / Math.abs(e[0].slope));
  }
  return {
    traces: traces.length,
    samples,
    slopePairs: defaultLeakOptions.slopePairs,
    sampledUsPerSample: (sampledMs * 1000) / samples,
    exactUsPerSample: (exactMs * 1000) / samples,
    sameVerdicts: same,
    sameAlerts,
    maxSlopeDifference: maxRel,
    maxSlopeDifferenceBytes: maxAbs,
  };
}
