import t from 'tap';
import { madSigma, mannKendall, median, rSquared, ranks, selectKth, spearman, theilSen } from '../../lib/leak/trend-stats';
import { detectPeriod, saturation, stepOverLine } from '../../lib/leak/growth-shape';

t.test('median and quickselect', async (t) => {
  t.equal(median([5, 1, 3]), 3);
  t.equal(median([4, 1, 3, 2]), 2.5);
  t.ok(Number.isNaN(median([])));
  const v = Float64Array.from([9, 7, 5, 3, 1, 2, 4, 6, 8]);
  for (let k = 0; k < 9; k++) t.equal(selectKth(Float64Array.from(v), k), k + 1, `k=${k}`);
});

t.test('Theil-Sen: exact on a line, unmoved by a gross outlier', async (t) => {
  const x = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
  const y = x.map((v) => 3 * v + 10);
  t.same(theilSen(x, y), { slope: 3, intercept: 10 });
  y[9] = 1000; // one wild sample: least squares would tilt, Theil-Sen does not
  t.equal(theilSen(x, y).slope, 3);
  // Known value: pairwise slopes of (0,0),(1,2),(2,1),(3,4) are 2,0.5,1.333,-1,1,3: median (1+1.333)/2.
  t.ok(Math.abs(theilSen([0, 1, 2, 3], [0, 2, 1, 4]).slope - (1 + 4 / 3) / 2) < 1e-12);
});

t.test('Mann-Kendall: S, tau and Z against hand-computed values', async (t) => {
  const up = mannKendall([1, 2, 3, 4, 5]);
  t.equal(up.s, 10);
  t.equal(up.tau, 1);
  // Var(S) = 5*4*15/18 = 16.667; Z = (10-1)/sqrt(16.667) = 2.2045
  t.ok(Math.abs(up.z - 9 / Math.sqrt(50 / 3)) < 1e-9, `z ${up.z}`);
  const down = mannKendall([5, 4, 3, 2, 1]);
  t.equal(down.s, -10);
  t.ok(down.z < -2);
  const flat = mannKendall([1, 1, 1, 1]);
  t.equal(flat.z, 0, 'all ties: no trend');
  // Ties shrink the variance: [1,2,2,3]: S = 5, Var = (4*3*13 - 2*1*9)/18 = 7.667
  const tied = mannKendall([1, 2, 2, 3]);
  t.equal(tied.s, 5);
  t.ok(Math.abs(tied.z - 4 / Math.sqrt(138 / 18)) < 1e-9);
});

t.test('Spearman, ranks, R-squared, MAD', async (t) => {
  t.same(Array.from(ranks([10, 30, 20, 20])), [1, 4, 2.5, 2.5]);
  t.ok(Math.abs(spearman([1, 2, 3, 4, 5], [1, 4, 9, 16, 25]) - 1) < 1e-12, 'monotone: rho 1');
  t.ok(Math.abs(spearman([1, 2, 3, 4, 5], [5, 4, 3, 2, 1]) + 1) < 1e-12);
  // rho = 1 - 6*sum(d^2)/(n(n^2-1)): ranks (1..5) vs (2,1,4,3,5): sum d^2 = 4 -> 0.8
  t.ok(Math.abs(spearman([1, 2, 3, 4, 5], [2, 1, 4, 3, 5]) - 0.8) < 1e-12);
  const x = [0, 1, 2, 3];
  t.equal(rSquared(x, [1, 3, 5, 7], { slope: 2, intercept: 1 }), 1);
  t.equal(rSquared(x, [1, 1, 1, 1], { slope: 0, intercept: 1 }), 0);
  t.ok(Math.abs(madSigma([1, 2, 3, 4, 100]) - 1.4826) < 1e-9, 'MAD ignores the outlier');
});

t.test('sampled Theil-Sen: bounded pairs, the same line on clean data, close on noisy data', async (t) => {
  const n = 60;
  const x = Float64Array.from({ length: n }, (_, i) => i);
  const line = Float64Array.from(x, (v) => 5 + 2 * v);
  t.same(theilSen(x, line, 100), { slope: 2, intercept: 5 }, 'an exact line stays exact');
  // A deterministic noisy series: the sampled slope moves by a small part of the slope's error.
  let seed = 7;
  const noise = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648 - 0.5) * 20;
  const noisy = Float64Array.from(x, (v) => 3 * v + noise());
  const exact = theilSen(x, noisy).slope;
  const sampled = theilSen(x, noisy, 400).slope;
  t.ok(Math.abs(sampled - exact) < 0.1, `sampled ${sampled.toFixed(3)} vs exact ${exact.toFixed(3)}`);
});

t.test('shape tests: periodicity, saturation, one level shift', async (t) => {
  const n = 60;
  const cycle = Float64Array.from({ length: n }, (_, i) => 100 + 30 * Math.sin((2 * Math.PI * i) / 15) + i * 0.2);
  t.equal(detectPeriod(cycle, 0.5), 15, 'a 15-point cycle on a slope');
  let seed = 11;
  const jitter = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  const steadyUp = Float64Array.from({ length: n }, (_, i) => i + 3 * jitter());
  t.equal(detectPeriod(steadyUp, 0.5), null, 'no period in a trend with random jitter');

  const t60 = Float64Array.from({ length: n }, (_, i) => i / 10);
  const warm = Float64Array.from(t60, (v) => 100 * (1 - Math.exp(-v / 1.5)));
  const sw = saturation(warm, 0.5, 30);
  t.ok(sw.significant && sw.ratio < 0.5, `a warm-up levels off (ratio ${sw.ratio.toFixed(2)})`);
  const leak = Float64Array.from(t60, (v, i) => 10 * v + (i % 2 ? 0.3 : -0.3));
  const sl = saturation(leak, 0.5, 30);
  t.notOk(sl.significant, `a steady leak does not (ratio ${sl.ratio.toFixed(2)})`);

  const jump = Float64Array.from({ length: n }, (_, i) => (i < 30 ? 50 : 80) + (i % 3) * 0.2);
  t.ok(stepOverLine(t60, jump, theilSen(t60, jump)) > 4, 'one jump: a step explains it far better than a line');
  t.ok(stepOverLine(t60, leak, theilSen(t60, leak)) < 1, 'steady growth: the line explains it better');
});
