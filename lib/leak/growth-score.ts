/**
 * The growth-pattern score (0 to 10) of one segment, and the confirmation checks on current usage.
 * Statistics run on troughs (the lowest value around each point): a garbage-collected heap saws up
 * and down, and only a real leak lifts the troughs; bursts lift peaks, not troughs.
 *
 * The score is a likelihood built as a product of factors, each in 0..1, so that any one piece of
 * evidence against a leak pulls it down: the trend is real (t statistic of the slope), it matters
 * (growth rate against the process's own size), it is not levelling off (saturation), it is not one
 * level shift, and, when the series is periodic, the trend is measured over whole periods.
 */
import { detectPeriod, saturation, stepOverLine } from './growth-shape';
import type { LeakOptions } from './leak-options';
import { mergeBuckets, type MemoryBucket } from './memory-history';
import { madSigma, median, theilSen } from './trend-stats';

const HOUR = 3_600_000;

export interface GrowthAssessment {
  score: number;
  /** Theil-Sen slope of the troughs over the window that scored highest. */
  slopeBytesPerHour: number;
  /** Theil-Sen slope of the troughs over the last short window. */
  shortSlopeBytesPerHour: number;
  /** The slope over its standard error. */
  trendT: number;
  /** Slope over the trough level (per hour). */
  relativeRatePerHour: number;
  /** Newest-third slope over the window's slope (1 = steady), and whether the slowdown is significant. */
  saturationRatio: number;
  saturating: boolean;
  /** Residuals around the line over those around one level shift (large: a single jump). */
  stepOverLine: number;
  /** Period found in the troughs (ms), null when none. */
  periodMs: number | null;
  /** Robust sigma of the residuals around the fitted line. */
  noiseBytes: number;
  /** Fitted growth over the window. */
  growthBytes: number;
  windowMs: number;
  ageMs: number;
  currentBytes: number;
  /** At the fitted rate, how long until the limit; null when not growing or no limit known. */
  msToLimit: number | null;
  /** The fitted trend (for charts): trough value = intercept + slope * (t - windowStartMs) / 1h. */
  trend: { windowStartMs: number; intercept: number; slopeBytesPerHour: number };
  /** Confirmation criteria on current usage, each true when met. */
  checks: { currentOnTrend: boolean; minGrowth: boolean; minRate: boolean; withinHorizon: boolean; sustained: boolean };
}

const clamp01 = (v: number): number => (v < 0 ? 0 : v > 1 ? 1 : Number.isFinite(v) ? v : 0);

interface Points {
  t: Float64Array;
  trough: Float64Array;
  widthMs: number;
}

/** Buckets merged down to at most maxPoints, each point's value the lowest within troughSpan around it. */
function troughPoints(buckets: MemoryBucket[], bucketMs: number, o: LeakOptions, originMs: number): Points {
  const k = Math.max(1, Math.ceil(buckets.length / o.maxPoints));
  const merged: MemoryBucket[] = [];
  for (let i = 0; i < buckets.length; i += k) merged.push(mergeBuckets(buckets.slice(i, i + k)));
  const widthMs = k * bucketMs;
  const r = Math.max(0, Math.ceil(o.troughSpanMs / widthMs / 2));
  const n = merged.length;
  const t = new Float64Array(n);
  const trough = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    t[i] = (merged[i].startMs + widthMs / 2 - originMs) / HOUR;
    let lo = Infinity;
    for (let j = Math.max(0, i - r); j <= Math.min(n - 1, i + r); j++) lo = Math.min(lo, merged[j].min);
    trough[i] = lo;
  }
  return { t, trough, widthMs };
}

/** Autocorrelation of the series at `lag` points, clamped to 0..0.9. */
function lagCorrelation(v: Float64Array, lag: number): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < v.length; i++) {
    den += v[i] * v[i];
    if (i + lag < v.length) num += v[i] * v[i + lag];
  }
  return den > 0 ? Math.min(0.9, Math.max(0, num / den)) : 0;
}

/**
 * Scores the current segment. `segment` holds its closed buckets, oldest first; `limitBytes` is the
 * memory limit (cgroup or RAM) when known. Returns undefined while the segment is too young.
 */
export function assessGrowth(segment: MemoryBucket[], o: LeakOptions, limitBytes: number | undefined): GrowthAssessment | undefined {
  if (segment.length < 8) return undefined;
  const first = segment[0].startMs;
  const nowMs = segment[segment.length - 1].startMs + o.bucketMs;
  if (nowMs - first < o.minAgeMs) return undefined;
  // The start-up transient (loading, first allocations) is not part of any trend.
  let from = 0;
  while (from < segment.length - 8 && segment[from].startMs < first + o.startupMs) from++;
  const settled = segment.slice(from);
  const settledStart = settled[0].startMs;
  // Periodicity over everything kept: the windows then span whole periods, so a cycle adds nothing.
  const longStart = Math.max(settledStart, nowMs - o.longWindowMs);
  const longPoints = troughPoints(settled.filter((b) => b.startMs >= longStart), o.bucketMs, o, longStart);
  const periodPoints = detectPeriod(longPoints.trough, o.minPeriodCorrelation, o.slopePairs);
  const periodMs = periodPoints === null ? null : periodPoints * longPoints.widthMs;
  const whole = (span: number): number => (periodMs === null ? span : Math.max(periodMs, Math.floor(span / periodMs) * periodMs));
  const long = assessWindow(settled, segment, o, limitBytes, Math.max(settledStart, nowMs - whole(nowMs - longStart)), periodMs);
  const recentSpan = periodMs === null ? o.recentWindowMs : Math.ceil(o.recentWindowMs / periodMs) * periodMs;
  if (nowMs - settledStart <= recentSpan * 1.25) return long;
  const recent = assessWindow(settled, segment, o, limitBytes, nowMs - recentSpan, periodMs);
  return recent.score > long.score ? recent : long;
}

function assessWindow(settled: MemoryBucket[], segment: MemoryBucket[], o: LeakOptions, limitBytes: number | undefined, windowStart: number, periodMs: number | null): GrowthAssessment {
  const last = segment[segment.length - 1];
  const nowMs = last.startMs + o.bucketMs;
  const ageMs = nowMs - segment[0].startMs;
  let from = settled.length;
  while (from > 0 && settled[from - 1].startMs >= windowStart) from--;
  const p = troughPoints(settled.slice(from), o.bucketMs, o, windowStart);
  const n = p.t.length;
  const fit = theilSen(p.t, p.trough, o.slopePairs);
  const slope = fit.slope;
  const windowMs = nowMs - windowStart;
  const resid = new Float64Array(n);
  for (let i = 0; i < n; i++) resid[i] = p.trough[i] - (fit.intercept + slope * p.t[i]);
  const noise = madSigma(resid);
  const growth = (slope * windowMs) / HOUR;
  // Neighbouring troughs share their minimum: one independent value per trough span, fewer still
  // when the residuals wander (AR(1) correction from their autocorrelation one span apart).
  const spacing = Math.max(p.widthMs, o.troughSpanMs);
  const wander = lagCorrelation(resid, Math.max(1, Math.round(spacing / p.widthMs)));
  const independent = Math.max(2, ((n * p.widthMs) / spacing) * ((1 - wander) / (1 + wander)));
  const sigma = Math.max(noise, o.noiseFloorBytes / 8);
  const spanH = Math.max(p.t[n - 1] - p.t[0], p.widthMs / HOUR);
  const trendT = n >= 4 ? slope / ((sigma * Math.sqrt(12 / independent)) / spanH) : 0;
  const level = Math.max(median(p.trough), o.noiseFloorBytes);
  const relative = slope / level;
  const sat = saturation(p.trough, sigma, independent);
  const step = stepOverLine(p.t, p.trough, fit);
  const shortFrom = p.t.findIndex((t) => t * HOUR >= windowMs - o.shortWindowMs);
  const shortSlope = shortFrom >= 0 && n - shortFrom >= 3 ? theilSen(p.t.subarray(Math.min(shortFrom, n - 4)), p.trough.subarray(Math.min(shortFrom, n - 4)), o.slopePairs).slope : slope;

  let score = 0;
  if (slope > 0) {
    const evidence = clamp01((trendT - 3) / 2);
    const rateMatters = Math.min(
      clamp01(Math.log(relative / o.minRelativeRatePerHour) / Math.log(3)),
      clamp01(Math.log(slope / o.minRateBytesPerHour) / Math.log(3)),
    );
    const steady = sat.significant ? clamp01((sat.ratio - 0.2) / 0.5) : 1;
    const notOneShift = clamp01((4 - step) / 2);
    score = 10 * evidence * rateMatters * steady * notOneShift;
  }

  // Current usage: the troughs of the last trough span, against the fitted line now.
  const current = last.last;
  const recentStart = nowMs - Math.max(o.troughSpanMs, o.bucketMs);
  let currentTrough = Infinity;
  for (let i = segment.length - 1; i >= 0 && segment[i].startMs >= recentStart; i--) currentTrough = Math.min(currentTrough, segment[i].min);
  const trendNow = fit.intercept + (slope * windowMs) / HOUR;
  const trendStart = fit.intercept;
  const msToLimit = limitBytes !== undefined && slope > 0 ? Math.max(0, ((limitBytes - current) / slope) * HOUR) : null;
  return {
    score: Math.round(score * 100) / 100,
    slopeBytesPerHour: slope,
    shortSlopeBytesPerHour: shortSlope,
    trendT,
    relativeRatePerHour: relative,
    saturationRatio: sat.ratio,
    saturating: sat.significant,
    stepOverLine: step,
    periodMs,
    noiseBytes: noise,
    growthBytes: growth,
    windowMs,
    ageMs,
    currentBytes: current,
    msToLimit,
    trend: { windowStartMs: windowStart, intercept: fit.intercept, slopeBytesPerHour: slope },
    checks: {
      // The grown memory is still held now: usage has not fallen back towards where the window began.
      currentOnTrend: currentTrough >= trendNow - 3 * noise - o.noiseFloorBytes / 2 && currentTrough >= trendStart + growth / 2,
      minGrowth: growth >= o.minGrowthBytes,
      minRate: slope >= o.minRateBytesPerHour,
      withinHorizon: limitBytes === undefined ? true : msToLimit !== null && msToLimit <= o.horizonMs,
      sustained: !sat.significant || sat.ratio >= o.minPersistence,
    },
  };
}
