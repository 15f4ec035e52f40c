/**
 * Leak detection quality over the labelled evaluation set (tools/leak-eval): 20 traces of each class,
 * 12 hours each at 5 s sampling. The figures that matter (precision, recall, false alerts, time to
 * detect) are computed once in setup and printed by summarize; the timed sides compare salvor's
 * detector with a naive least-squares detector (the anchor) over one trace of each class.
 */
import { evaluate, formatFigures, naiveRegressionDetector, salvorDetector, type EvaluationFigures } from '../leak-eval/evaluate';
import { generateHarness } from '../leak-eval/trace-generators';
import type { Benchmark } from './run';

const PER_CLASS = Number(process.env.SALVOR_LEAK_EVAL_PER_CLASS ?? 20);

let figures: { salvor: EvaluationFigures; naive: EvaluationFigures } | undefined;

export const leakEvalBenchmark: Benchmark = {
  name: 'leak-eval',
  title: `leak detection over ${PER_CLASS} labelled 12-hour traces per class vs a naive least-squares detector`,
  // The timed ratio is the detector's cost per sample against the naive one's: bounded, not a goal.
  target: { kind: 'time-ratio', value: 50 },
  setup: async () => {
    const traces = generateHarness(PER_CLASS, { set: 'evaluation' });
    const salvor = salvorDetector();
    const naive = naiveRegressionDetector();
    figures = { salvor: evaluate(salvor, traces), naive: evaluate(naive, traces) };
    const timed = traces.filter((tr) => tr.seed === 100_001);
    const samples = timed.reduce((n, tr) => n + tr.tMs.length, 0);
    return {
      subject: { label: `salvor detector, ${timed.length} traces (${samples} samples)`, bytes: samples * 8, run: () => timed.map((tr) => salvor.run(tr)) },
      anchor: { label: 'naive OLS over the last hour, refitted each minute', bytes: samples * 8, run: () => timed.map((tr) => naive.run(tr)) },
    };
  },
  summarize: () => {
    if (!figures) return { lines: [], json: {} };
    const s = figures.salvor;
    const targets = {
      precision: s.precision >= 0.95,
      recall: s.recall >= 0.95,
      firedAndResolvedAtMostOneInTen: s.firedAndResolvedShare <= 0.1,
      medianDetect10MiBPerHourWithin60Min: s.fastLeakMedianDetectMin !== null && s.fastLeakMedianDetectMin <= 60,
    };
    return {
      lines: [...formatFigures(s), ...formatFigures(figures.naive), `targets: ${JSON.stringify(targets)}`],
      json: { perClass: PER_CLASS, salvor: s, naive: figures.naive, targets },
    };
  },
};
