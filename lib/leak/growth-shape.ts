/**
 * Shape tests that tell a leak from growth that is not one, each on the trough series of a window
 * (evenly spaced points, oldest first): periodicity (load cycles, long GC periods), saturation
 * (warm-ups, caches that stop filling, memory-mapped files touched once) and a single level shift.
 */
import { median, theilSen } from './trend-stats';

/**
 * The period of the series, in points, from the autocorrelation of the series detrended by its
 * Theil-Sen line (its slope per point given, or fitted here): the highest autocorrelation past its first zero crossing, when it reaches
 * `minCorrelation` and the series holds at least two and a half such periods (one step, detrended,
 * looks like half a cycle; several cycles do not). Null when none stands out.
 */
export function detectPeriod(y: ArrayLike<number>, minCorrelation = 0.3, slopePerPoint?: number): number | null {
  const n = y.length;
  if (n < 12) return null;
  const slope = slopePerPoint ?? theilSen(Float64Array.from({ length: n }, (_, i) => i), y).slope;
  const d = new Float64Array(n);
  let mean = 0;
  for (let i = 0; i < n; i++) mean += d[i] = y[i] - slope * i;
  mean /= n;
  let var0 = 0;
  for (let i = 0; i < n; i++) var0 += (d[i] -= mean) * d[i];
  if (var0 <= 0) return null;
  const maxLag = Math.floor(n / 2.5);
  let crossed = false;
  let best = -1;
  let bestLag = 0;
  for (let lag = 1; lag <= maxLag; lag++) {
    let c = 0;
    for (let i = 0; i + lag < n; i++) c += d[i] * d[i + lag];
    // Scaled by the pairs present, so that long lags are not penalised for having fewer of them.
    const r = (c / (n - lag)) / (var0 / n);
    if (!crossed) {
      if (r <= 0) crossed = true;
      continue;
    }
    if (r > best) {
      best = r;
      bestLag = lag;
    }
  }
  return crossed && best >= minCorrelation ? bestLag : null;
}

export interface Saturation {
  /** Growth between the medians of the newer two thirds over that of the older two (1 = steady). */
  ratio: number;
  /** True when the change of pace (slowdown or speed-up) stands out of the noise of the three medians. */
  significant: boolean;
}

/**
 * Saturation test: a growth that levels off (an exponential approach, a fill that stops) rises less
 * from the middle third of the window to the newest than from the oldest to the middle; a leak rises
 * the same. A rise that speeds up sharply inside the window (flat, then a ramp) has not lasted long
 * enough to be judged as a trend: the caller treats a significant speed-up as such. Medians of thirds, so that one step or one outlier does not decide it; the slowdown is
 * significant when it exceeds twice its standard error (`noise` per independent point, `independent`
 * points in the window).
 */
export function saturation(y: Float64Array, noise: number, independent: number): Saturation {
  const n = y.length;
  if (n < 9) return { ratio: 1, significant: false };
  const third = (q: number): number => median(y.subarray(Math.floor((q * n) / 3), Math.floor(((q + 1) * n) / 3)));
  const m1 = third(0);
  const m2 = third(1);
  const m3 = third(2);
  const older = m2 - m1;
  const newer = m3 - m2;
  // Standard error of a median of k independent normal values: 1.2533 sigma / sqrt(k); the
  // difference of the two increments involves m1 + m3 - 2 m2: sqrt(6) of one median's error.
  const se = (1.2533 * noise * Math.sqrt(6)) / Math.sqrt(Math.max(1, independent / 3));
  const significant = Math.abs(older - newer) > 2 * se;
  if (older <= 0) return { ratio: newer > 0 ? Infinity : 0, significant };
  return { ratio: newer / older, significant };
}

/**
 * How much better one level shift explains the series than a straight line: the squared residuals
 * around the line over those around the best two-level step (split at any point, each side at its
 * mean). About 1 or less for a trend; large for a jump between two flat stretches.
 */
export function stepOverLine(t: Float64Array, y: Float64Array, line: { slope: number; intercept: number }): number {
  const n = y.length;
  if (n < 8) return 1;
  let lineSse = 0;
  for (let i = 0; i < n; i++) lineSse += (y[i] - line.intercept - line.slope * t[i]) ** 2;
  const sum = new Float64Array(n + 1);
  const sq = new Float64Array(n + 1);
  for (let i = 0; i < n; i++) {
    sum[i + 1] = sum[i] + y[i];
    sq[i + 1] = sq[i] + y[i] * y[i];
  }
  const sse = (a: number, b: number): number => sq[b] - sq[a] - (sum[b] - sum[a]) ** 2 / (b - a);
  let best = Infinity;
  for (let k = 3; k <= n - 3; k++) best = Math.min(best, sse(0, k) + sse(k, n));
  if (best <= 0) return lineSse > 0 ? Infinity : 1;
  return lineSse / best;
}

/**
 * Where growth began: the hinge h of the model y = a + b * max(0, t - t[h]) (flat, then a straight
 * rise) that leaves the least squared residual, with at least `minAfter` points after it. 0 when the
 * rise spans the whole series. A leak that began late in a long-running process is then measured
 * from its onset, not diluted by the flat hours before it.
 */
export function growthOnset(t: Float64Array, y: Float64Array, minAfter: number): number {
  const n = t.length;
  let best = 0;
  let bestSse = Infinity;
  for (let h = 0; h <= n - minAfter; h++) {
    let sz = 0, sy = 0, szz = 0, szy = 0, syy = 0;
    for (let i = 0; i < n; i++) {
      const z = t[i] > t[h] ? t[i] - t[h] : 0;
      sz += z; sy += y[i]; szz += z * z; szy += z * y[i]; syy += y[i] * y[i];
    }
    const vz = szz - (sz * sz) / n;
    const cov = szy - (sz * sy) / n;
    const sse = syy - (sy * sy) / n - (vz > 0 ? (cov * cov) / vz : 0);
    if (h === 0 || sse < bestSse * (1 - 1e-9)) {
      bestSse = sse;
      best = h;
    }
  }
  return best;
}
