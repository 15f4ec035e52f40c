/**
 * Robust trend statistics over (time, value) series: Theil-Sen slope, Mann-Kendall trend test,
 * Spearman rank correlation, R-squared of a fitted line, median absolute deviation. The detector
 * calls `theilSen` with a pair budget: above it the slopes come from a fixed, evenly spread sample of
 * the pairs (long lags first), which keeps its cost per call bounded (docs/leak.md, BENCHMARKS.md).
 */

/** The k-th smallest value (0-based) of `values`, reordering them in place (quickselect). */
export function selectKth(values: Float64Array, k: number, length = values.length): number {
  let lo = 0;
  let hi = length - 1;
  while (lo < hi) {
    const pivot = values[(lo + hi) >> 1];
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (values[i] < pivot) i++;
      while (values[j] > pivot) j--;
      if (i <= j) {
        const tmp = values[i];
        values[i] = values[j];
        values[j] = tmp;
        i++;
        j--;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return values[k];
  }
  return values[k];
}

/** Median of the first `length` entries (reorders them). NaN for none. */
export function medianInPlace(values: Float64Array, length = values.length): number {
  if (length === 0) return NaN;
  const mid = length >> 1;
  const upper = selectKth(values, mid, length);
  if (length % 2) return upper;
  let lower = -Infinity;
  for (let i = 0; i < mid; i++) if (values[i] > lower) lower = values[i];
  return (lower + upper) / 2;
}

// Scratch space reused by every call (the detector runs on one thread, calls do not nest).
let medianScratch = new Float64Array(256);

function scratchOf(n: number): Float64Array {
  if (medianScratch.length < n) medianScratch = new Float64Array(2 * n);
  return medianScratch;
}

export function median(values: ArrayLike<number>): number {
  const n = values.length;
  const s = scratchOf(n);
  for (let i = 0; i < n; i++) s[i] = values[i];
  return medianInPlace(s, n);
}

/** Median absolute deviation from the median, scaled by 1.4826 to estimate a normal sigma. */
export function madSigma(values: ArrayLike<number>): number {
  const m = median(values);
  const n = values.length;
  const s = scratchOf(n);
  for (let i = 0; i < n; i++) s[i] = Math.abs(values[i] - m);
  return 1.4826 * medianInPlace(s, n);
}

export interface LineFit {
  /** Value units per time unit. */
  slope: number;
  /** Value at time 0. */
  intercept: number;
}

let pairScratch = new Float64Array(0);

/**
 * Theil-Sen estimator: the median of pairwise slopes, intercept the median of y - slope * x.
 * `maxPairs` (0: every pair) bounds the work: past it, only pairs at least a lag L apart are used,
 * L chosen so that about maxPairs remain. Long-lag pairs carry most of the information about a slope
 * (a pair's slope error shrinks with its time span), so the answer moves by a small fraction of the
 * slope's standard error; tools/leak-eval/estimator-cost.ts measures both the cost and the difference.
 */
export function theilSen(x: ArrayLike<number>, y: ArrayLike<number>, maxPairs = 0): LineFit {
  const n = x.length;
  if (n < 2) return { slope: 0, intercept: n ? y[0] : 0 };
  const all = (n * (n - 1)) / 2;
  // Pairs with lag >= L number (n - L)(n - L + 1) / 2.
  let minLag = 1;
  if (maxPairs > 0 && all > maxPairs) minLag = Math.max(1, Math.min(n - 1, Math.ceil(n + 0.5 - Math.sqrt(2 * maxPairs + 0.25))));
  const pairs = ((n - minLag) * (n - minLag + 1)) / 2;
  if (pairScratch.length < pairs) pairScratch = new Float64Array(pairs);
  let m = 0;
  for (let i = 0; i < n; i++) {
    for (let j = i + minLag; j < n; j++) {
      const dx = x[j] - x[i];
      if (dx !== 0) pairScratch[m++] = (y[j] - y[i]) / dx;
    }
  }
  const slope = m ? medianInPlace(pairScratch, m) : 0;
  const resid = scratchOf(n);
  for (let i = 0; i < n; i++) resid[i] = y[i] - slope * x[i];
  return { slope, intercept: medianInPlace(resid, n) };
}

export interface MannKendall {
  /** Sum of sign(y_j - y_i) over i < j. */
  s: number;
  /** Normal score of S with the continuity correction and the tie-corrected variance. */
  z: number;
  /** Kendall's tau-a: S over the number of pairs. */
  tau: number;
}

/** The Mann-Kendall trend test. Z above about 1.96 means an upward trend at the 5 % level. */
export function mannKendall(y: ArrayLike<number>): MannKendall {
  const n = y.length;
  if (n < 3) return { s: 0, z: 0, tau: 0 };
  let s = 0;
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) s += Math.sign(y[j] - y[i]);
  let variance = (n * (n - 1) * (2 * n + 5)) / 18;
  const counts = new Map<number, number>();
  for (let i = 0; i < n; i++) counts.set(y[i], (counts.get(y[i]) ?? 0) + 1);
  for (const t of counts.values()) if (t > 1) variance -= (t * (t - 1) * (2 * t + 5)) / 18;
  const z = variance <= 0 ? 0 : s > 0 ? (s - 1) / Math.sqrt(variance) : s < 0 ? (s + 1) / Math.sqrt(variance) : 0;
  return { s, z, tau: s / ((n * (n - 1)) / 2) };
}

/** Ranks 1..n, ties sharing their average rank. */
export function ranks(values: ArrayLike<number>): Float64Array {
  const n = values.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => values[a] - values[b]);
  const out = new Float64Array(n);
  for (let i = 0; i < n; ) {
    let j = i;
    while (j + 1 < n && values[order[j + 1]] === values[order[i]]) j++;
    const rank = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) out[order[k]] = rank;
    i = j + 1;
  }
  return out;
}

/** Pearson correlation; 0 when either side is constant. */
export function pearson(x: ArrayLike<number>, y: ArrayLike<number>): number {
  const n = x.length;
  if (n < 2) return 0;
  let mx = 0;
  let my = 0;
  for (let i = 0; i < n; i++) {
    mx += x[i];
    my += y[i];
  }
  mx /= n;
  my /= n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    const dx = x[i] - mx;
    const dy = y[i] - my;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  return sxx === 0 || syy === 0 ? 0 : sxy / Math.sqrt(sxx * syy);
}

/** Spearman's rho: the Pearson correlation of the ranks. */
export function spearman(x: ArrayLike<number>, y: ArrayLike<number>): number {
  return pearson(ranks(x), ranks(y));
}

/** Share of the variance of y that the line explains (1 - SSres/SStot); 0 for a constant y. */
export function rSquared(x: ArrayLike<number>, y: ArrayLike<number>, fit: LineFit): number {
  const n = y.length;
  let mean = 0;
  for (let i = 0; i < n; i++) mean += y[i];
  mean /= n;
  let ssRes = 0;
  let ssTot = 0;
  for (let i = 0; i < n; i++) {
    const r = y[i] - (fit.intercept + fit.slope * x[i]);
    ssRes += r * r;
    ssTot += (y[i] - mean) * (y[i] - mean);
  }
  return ssTot === 0 ? 0 : Math.max(0, 1 - ssRes / ssTot);
}
