/**
 * The growth-pattern score (0 to 10) of one segment, and the confirmation checks on current usage.
 * Statistics run on troughs (the lowest value around each point): a garbage-collected heap saws up
 * and down, and only a real leak lifts the troughs; bursts lift peaks, not troughs.
 */
import type { LeakOptions } from './leak-options';
import { mergeBuckets, type MemoryBucket } from './memory-history';
import { madSigma, mannKendall, median, rSquared, spearman, theilSen } from './trend-stats';

const HOUR = 3_600_000;

export interface GrowthAssessment {
  score: number;
  /** Theil-Sen slope of the troughs over the long window. */
  slopeBytesPerHour: number;
  /** Theil-Sen slope of the troughs over the short window. */
  shortSlopeBytesPerHour: number;
  mannKendallZ: number;
  spearman: number;
  rSquared: number;
  /** Robust sigma of the residuals around the fitted line. */
  noiseBytes: number;
  /** Fitted growth over the window. */
  growthBytes: number;
  windowMs: number;
  ageMs: number;
  currentBytes: number;
  /** Highest value in the recent span, and before it in this segment. */
  recentPeakBytes: number;
  historicalPeakBytes: number;
  /** At the fitted rate, how long until the limit; null when not growing or no limit known. */
  msToLimit: number | null;
  /** The fitted trend (for charts): trough value = intercept + slope * (t - windowStartMs) / 1h. */
  trend: { windowStartMs: number; intercept: number; slopeBytesPerHour: number };
  /** Confirmation criteria on current usage, each true when met. */
  checks: { newHighWater: boolean; minGrowth: boolean; minRate: boolean; withinHorizon: boolean; sustained: boolean };
  /** Recent growth against the long-run growth (1 = steady), and separate rises of the troughs. */
  persistence: number;
  rises: number;
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

function slopeOf(p: Points, from: number, to = p.t.length): number {
  if (to - from < 3) return 0;
  return theilSen(p.t.subarray(from, to), p.trough.subarray(from, to)).slope;
}

const quarterMedian = (v: Float64Array, q: number): number => median(v.subarray(Math.floor((q * v.length) / 4), Math.floor(((q + 1) * v.length) / 4)));

/**
 * Growth over the newer half against growth over the older half, from quarter medians (robust to
 * single steps): about 1 for steady growth, near 0 when growth is levelling off (warm-up, ratchets).
 */
export function quarterGrowthRatio(v: Float64Array): number {
  if (v.length < 8) return 0;
  const older = quarterMedian(v, 2) - quarterMedian(v, 0);
  const newer = quarterMedian(v, 3) - quarterMedian(v, 1);
  if (older <= 0) return newer > 0 ? 1 : 0;
  return newer / older;
}

/** Separate rises: how often the running maximum climbs by at least `step` since the last rise. */
export function countRises(v: Float64Array, step: number): number {
  if (!v.length) return 0;
  let level = v[0];
  let rises = 0;
  for (let i = 1; i < v.length; i++) {
    if (v[i] >= level + step) {
      rises++;
      level = v[i];
    }
  }
  return rises;
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
  // The long window, and a recent one (twice the short window) so that a leak which began late in a
  // long-running process is not diluted by the flat hours before it. The higher score wins.
  const long = assessWindow(segment, o, limitBytes, Math.max(first, nowMs - o.longWindowMs));
  if (nowMs - first <= 2 * o.shortWindowMs * 1.25) return long;
  const recent = assessWindow(segment, o, limitBytes, nowMs - 2 * o.shortWindowMs);
  return recent.score > long.score ? recent : long;
}

function assessWindow(segment: MemoryBucket[], o: LeakOptions, limitBytes: number | undefined, windowStart: number): GrowthAssessment {
  const first = segment[0].startMs;
  const last = segment[segment.length - 1];
  const nowMs = last.startMs + o.bucketMs;
  const ageMs = nowMs - first;
  let from = segment.length;
  while (from > 0 && segment[from - 1].startMs >= windowStart) from--;
  const inWindow = segment.slice(from);
  const p = troughPoints(inWindow, o.bucketMs, o, windowStart);
  const n = p.t.length;
  const fit = theilSen(p.t, p.trough);
  const slope = fit.slope;
  const windowMs = nowMs - windowStart;
  const mk = mannKendall(p.trough);
  const rho = spearman(p.t, p.trough);
  const resid = new Float64Array(n);
  for (let i = 0; i < n; i++) resid[i] = p.trough[i] - (fit.intercept + slope * p.t[i]);
  const noise = madSigma(resid);
  const growth = (slope * windowMs) / HOUR;
  const shortFrom = p.t.findIndex((t) => t * HOUR >= windowMs - o.shortWindowMs);
  const shortSlope = slopeOf(p, Math.max(0, Math.min(shortFrom, n - 4)));
  const persistence = slope > 0 ? Math.min(shortSlope / slope, quarterGrowthRatio(p.trough)) : 0;
  // A rise is an eighth of the window's growth (above the noise): steady growth makes many, one jump one.
  const rises = countRises(p.trough, Math.max(2 * noise, growth / 8, o.noiseFloorBytes / 4));

  let score = 0;
  if (slope > 0) {
    const snr = growth / Math.max(3 * noise, o.noiseFloorBytes);
    score =
      3 * clamp01((mk.z - 1.5) / 2.5) +
      2 * clamp01((rho - 0.5) / 0.4) +
      2.5 * clamp01((snr - 1) / 2) +
      1.5 * clamp01(persistence / 0.5) +
      1 * clamp01((ageMs - o.minAgeMs) / o.minAgeMs);
  }

  const recentStart = nowMs - Math.max(o.recentMs, p.widthMs * 2);
  let recentPeak = -Infinity;
  let historicalPeak = -Infinity;
  for (const b of segment) {
    if (b.startMs >= recentStart) recentPeak = Math.max(recentPeak, b.max);
    else historicalPeak = Math.max(historicalPeak, b.max);
  }
  const current = last.last;
  const trendNow = fit.intercept + (fit.slope * (nowMs - windowStart)) / HOUR;
  const rate = slope;
  const msToLimit = limitBytes !== undefined && rate > 0 ? Math.max(0, ((limitBytes - current) / rate) * HOUR) : null;
  return {
    score: Math.round(score * 100) / 100,
    slopeBytesPerHour: slope,
    shortSlopeBytesPerHour: shortSlope,
    mannKendallZ: mk.z,
    spearman: rho,
    rSquared: rSquared(p.t, p.trough, fit),
    noiseBytes: noise,
    growthBytes: growth,
    windowMs,
    ageMs,
    currentBytes: current,
    recentPeakBytes: recentPeak,
    historicalPeakBytes: historicalPeak,
    msToLimit,
    trend: { windowStartMs: windowStart, intercept: fit.intercept, slopeBytesPerHour: slope },
    checks: {
      // A new peak, and usage still on the fitted trend now (a cache that just evicted is not).
      newHighWater: historicalPeak > -Infinity && recentPeak > historicalPeak + noise && last.max >= trendNow - 2 * noise - o.noiseFloorBytes / 2,
      minGrowth: growth >= o.minGrowthBytes,
      minRate: rate >= o.minRateBytesPerHour,
      withinHorizon: limitBytes === undefined ? true : msToLimit !== null && msToLimit <= o.horizonMs,
      sustained: persistence >= o.minPersistence && rises >= o.minRises,
    },
    persistence,
    rises,
  };
}
