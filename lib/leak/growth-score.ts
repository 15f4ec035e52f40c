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
import { detectPeriod, growthOnset, saturation, stepOverLine } from './growth-shape';
import type { LeakOptions } from './leak-options';
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

/** The settled buckets of the segment as two arrays (start times, minima): built once per assessment. */
interface Series {
  startMs: Float64Array;
  min: Float64Array;
}

/**
 * The buckets from `from` on, merged down to at most maxPoints points, each point's value the lowest
 * within troughSpan around it; times in hours since `originMs`.
 */
function troughPoints(s: Series, from: number, o: LeakOptions, originMs: number): Points {
  const count = s.min.length - from;
  const k = Math.max(1, Math.ceil(count / o.maxPoints));
  const n = Math.ceil(count / k);
  const widthMs = k * o.bucketMs;
  const merged = new Float64Array(n);
  const t = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let lo = Infinity;
    const end = Math.min(s.min.length, from + (i + 1) * k);
    for (let j = from + i * k; j < end; j++) if (s.min[j] < lo) lo = s.min[j];
    merged[i] = lo;
    t[i] = (s.startMs[from + i * k] + widthMs / 2 - originMs) / HOUR;
  }
  const r = Math.max(0, Math.ceil(o.troughSpanMs / widthMs / 2));
  const trough = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let lo = Infinity;
    for (let j = Math.max(0, i - r); j <= Math.min(n - 1, i + r); j++) if (merged[j] < lo) lo = merged[j];
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
 * Scores the current segment from its closed buckets' start times and minima (oldest first; only
 * those the long window can use are needed). `nowMs` is the end of the newest closed bucket,
 * `currentBytes` the latest reading, `limitBytes` the memory limit (cgroup or RAM) when known.
 * Returns undefined while the segment is too young.
 */
export function assessGrowth(buckets: Series, segmentStartMs: number, nowMs: number, currentBytes: number, o: LeakOptions, limitBytes: number | undefined): GrowthAssessment | undefined {
  if (buckets.min.length < 8 || nowMs - segmentStartMs < o.minAgeMs) return undefined;
  // The start-up transient (loading, first allocations) is not part of any trend.
  const longStart = Math.max(segmentStartMs + o.startupMs, nowMs - o.longWindowMs);
  let from = 0;
  while (from < buckets.min.length - 8 && buckets.startMs[from] < longStart) from++;
  const series: Series = { startMs: buckets.startMs.subarray(from), min: buckets.min.subarray(from) };
  const settledStart = series.startMs[0];
  // Periodicity over the long window: the windows then span whole periods, so a cycle adds nothing.
  const longPoints = troughPoints(series, 0, o, settledStart);
  const longFit = theilSen(longPoints.t, longPoints.trough, o.slopePairs);
  const periodPoints = detectPeriod(longPoints.trough, o.minPeriodCorrelation, (longFit.slope * longPoints.widthMs) / HOUR);
  const periodMs = periodPoints === null ? null : periodPoints * longPoints.widthMs;
  const whole = (span: number): number => (periodMs === null ? span : Math.max(periodMs, Math.floor(span / periodMs) * periodMs));
  const ctx: WindowContext = { series, nowMs, currentBytes, segmentStartMs, o, limitBytes, periodMs };
  const long = assessWindow(ctx, Math.max(settledStart, nowMs - whole(nowMs - settledStart)));
  // A periodic series is judged over whole periods only; otherwise also from where growth began,
  // when that is not the start of the window: one more look at the data, so it needs stronger
  // evidence (t above 4, not 3), against the wander of the troughs before it.
  if (periodMs !== null) return long;
  const minAfter = Math.max(8, Math.ceil(o.recentWindowMs / longPoints.widthMs));
  // The onset is sought within the last few hours only, so that an old warm-up does not bend the fit.
  let searchFrom = 0;
  while (searchFrom < longPoints.t.length && settledStart + longPoints.t[searchFrom] * HOUR < nowMs - o.onsetSearchMs) searchFrom++;
  const local = longPoints.t.length - searchFrom;
  const onset = local > minAfter + 4 ? searchFrom + growthOnset(longPoints.t.subarray(searchFrom), longPoints.trough.subarray(searchFrom), minAfter) : 0;
  if (onset < 4) return long;
  const before = residualSigma(longPoints.t.subarray(0, onset), longPoints.trough.subarray(0, onset), o);
  const recent = assessWindow({ ...ctx, noiseFloor: before, extraT: 1 }, settledStart + longPoints.t[onset] * HOUR - longPoints.widthMs / 2);
  return recent.score > long.score ? recent : long;
}

interface WindowContext {
  series: Series;
  nowMs: number;
  currentBytes: number;
  segmentStartMs: number;
  o: LeakOptions;
  limitBytes: number | undefined;
  periodMs: number | null;
  /** A lower bound for the window's noise (bytes), from the baseline before it. */
  noiseFloor?: number;
  /** Evidence the window needs beyond the long window's (t statistic). */
  extraT?: number;
}

/**
 * The trend of a periodic series from the differences of points one period (`lag` points) apart:
 * their median over the period is the slope (the cycle cancels out of each difference), and their
 * scatter gives its t statistic, one independent difference per trough span.
 */
function seasonalTrend(p: Points, lag: number, spacingMs: number): { slope: number; t: number } {
  const m = p.t.length - lag;
  const d = new Float64Array(m);
  for (let i = 0; i < m; i++) d[i] = (p.trough[i + lag] - p.trough[i]) / (p.t[i + lag] - p.t[i]);
  const slope = median(d);
  const spread = madSigma(d);
  const independent = Math.max(2, (m * p.widthMs) / spacingMs);
  return { slope, t: spread > 0 ? slope / ((1.2533 * spread) / Math.sqrt(independent)) : slope > 0 ? Infinity : 0 };
}

function residualSigma(t: Float64Array, y: Float64Array, o: LeakOptions): number {
  const fit = theilSen(t, y, o.slopePairs);
  const r = new Float64Array(t.length);
  for (let i = 0; i < t.length; i++) r[i] = y[i] - fit.intercept - fit.slope * t[i];
  return madSigma(r);
}

function assessWindow(ctx: WindowContext, windowStart: number): GrowthAssessment {
  const { series, nowMs, o, limitBytes, periodMs } = ctx;
  const ageMs = nowMs - ctx.segmentStartMs;
  let from = series.startMs.length;
  while (from > 0 && series.startMs[from - 1] >= windowStart) from--;
  const p = troughPoints(series, from, o, windowStart);
  const n = p.t.length;
  const fit = theilSen(p.t, p.trough, o.slopePairs);
  const windowMs = nowMs - windowStart;
  const spacing = Math.max(p.widthMs, o.troughSpanMs);
  const lag = periodMs === null ? 0 : Math.round(periodMs / p.widthMs);
  const seasonal = lag > 0 && n - lag >= 6 ? seasonalTrend(p, lag, spacing) : undefined;
  // A periodic series: the slope from differences one period apart, which the cycle cancels out of.
  const slope = seasonal ? seasonal.slope : fit.slope;
  if (seasonal) fit.intercept = median(Float64Array.from(p.t, (t, i) => p.trough[i] - slope * t));
  fit.slope = slope;
  const resid = new Float64Array(n);
  for (let i = 0; i < n; i++) resid[i] = p.trough[i] - (fit.intercept + slope * p.t[i]);
  const noise = madSigma(resid);
  const growth = (slope * windowMs) / HOUR;
  // Neighbouring troughs share their minimum: one independent value per trough span, fewer still
  // when the residuals wander (AR(1) correction from their autocorrelation one span apart).
  const wander = lagCorrelation(resid, Math.max(1, Math.round(spacing / p.widthMs)));
  const independent = Math.max(2, ((n * p.widthMs) / spacing) * ((1 - wander) / (1 + wander)));
  const sigma = Math.max(noise, o.noiseFloorBytes / 8, ctx.noiseFloor ?? 0);
  const spanH = Math.max(p.t[n - 1] - p.t[0], p.widthMs / HOUR);
  const trendT = seasonal ? seasonal.t : n >= 4 ? slope / ((sigma * Math.sqrt(12 / independent)) / spanH) : 0;
  const level = Math.max(median(p.trough), o.noiseFloorBytes);
  const relative = slope / level;
  // Saturation is judged against the point-to-point scatter, which a curve does not inflate as it
  // inflates the residuals around a line.
  const steps = new Float64Array(Math.max(0, n - 1));
  for (let i = 1; i < n; i++) steps[i - 1] = p.trough[i] - p.trough[i - 1];
  const scatter = Math.max(madSigma(steps) / Math.SQRT2, o.noiseFloorBytes / 8);
  // Thirds and steps of a periodic series reflect the cycle, not the trend: not used there.
  const sat = seasonal ? { ratio: 1, significant: false } : saturation(p.trough, scatter, (n * p.widthMs) / spacing);
  const step = seasonal ? 1 : stepOverLine(p.t, p.trough, fit);
  const shortFrom = p.t.findIndex((t) => t * HOUR >= windowMs - o.shortWindowMs);
  const shortSlope = shortFrom >= 0 && n - shortFrom >= 3 ? theilSen(p.t.subarray(Math.min(shortFrom, n - 4)), p.trough.subarray(Math.min(shortFrom, n - 4)), o.slopePairs).slope : slope;

  let score = 0;
  if (slope > 0) {
    const evidence = clamp01((trendT - 3 - (ctx.extraT ?? 0)) / 2);
    const rateMatters = Math.min(
      clamp01(Math.log(relative / o.minRelativeRatePerHour) / Math.log(3)),
      clamp01(Math.log(slope / o.minRateBytesPerHour) / Math.log(3)),
    );
    // Levelling off (ratio well under 1) is saturation; a sharp speed-up (ratio well over 1) is a
    // ramp that began inside the window, judged once the window is the ramp.
    const steady = !sat.significant ? 1 : sat.ratio < 1 ? clamp01((sat.ratio - 0.7) / 0.2) : clamp01((2 - sat.ratio) / 0.6);
    const notOneShift = clamp01((4 - step) / 2);
    score = 10 * evidence * rateMatters * steady * notOneShift;
  }

  // Current usage: the troughs of the last trough span, against the fitted line now.
  const current = ctx.currentBytes;
  const troughBefore = (endMs: number): number => {
    let lo = Infinity;
    for (let i = series.min.length - 1; i >= 0 && series.startMs[i] >= endMs - Math.max(o.troughSpanMs, o.bucketMs); i--) if (series.startMs[i] < endMs) lo = Math.min(lo, series.min[i]);
    return lo;
  };
  const currentTrough = troughBefore(nowMs + 1);
  // Still growing now: the troughs rose over the last confirmation span by at least half what the
  // fitted rate says (less the point-to-point scatter); a ramp that has stopped is not confirmed.
  const earlier = troughBefore(nowMs - o.confirmSpanMs + 1);
  const growingNow = earlier === Infinity || currentTrough - earlier >= (slope * o.confirmSpanMs) / HOUR / 2 - 2 * scatter;
  // The troughs lag the samples by about half a trough span, and the newest trough by a whole one.
  const trendNow = fit.intercept + (slope * (windowMs - o.troughSpanMs / 2)) / HOUR;
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
      currentOnTrend: currentTrough >= trendNow - 3 * noise - o.noiseFloorBytes / 2 && currentTrough >= trendStart + growth / 2 && growingNow,
      minGrowth: growth >= o.minGrowthBytes,
      minRate: slope >= o.minRateBytesPerHour,
      withinHorizon: limitBytes === undefined ? true : msToLimit !== null && msToLimit <= o.horizonMs,
      sustained: !sat.significant || sat.ratio >= o.minPersistence,
    },
  };
}
