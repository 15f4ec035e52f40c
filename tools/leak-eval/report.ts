/**
 * The leak-detection figures of docs/BENCHMARKS.md in one run:
 *   node dist/tools/leak-eval/report.js [--set tuning|evaluation] [--per-class N] [--eve DIR] [--json]
 * the labelled set's figures per class against the targets, EVE's recordings (DIR, else where
 * eveRecordingsDir finds them),
 * and the detector's cost per sample with the sampled and the exact Theil-Sen estimator.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { analyzeTrace } from '../../lib/leak/analyze-trace';
import { parseTraceCsv } from '../../lib/leak/trace-csv';
import { eveRecordingsDir } from './eve-recordings';
import { estimatorCost } from './estimator-cost';
import { evaluate, formatFigures, salvorDetector } from './evaluate';
import { generateHarness, type TraceSet } from './trace-generators';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}

const set = arg('--set', 'evaluation') as TraceSet;
if (set !== 'tuning' && set !== 'evaluation') {
  process.stderr.write(`--set ${String(set)}: tuning or evaluation\n`);
  process.exit(16);
}
const perClass = Number(arg('--per-class', '20'));
const eveDir = arg('--eve', eveRecordingsDir() ?? '');
const json = process.argv.includes('--json');

const traces = generateHarness(perClass, { set });
const figures = evaluate(salvorDetector(), traces);
const MiB = 1024 * 1024;

const eve: { series: string; verdict: string; detectedAtMin: number | null; score: number; alerts: number }[] = [];
if (existsSync(join(eveDir, 'eve-leak-rss.csv'))) {
  for (const series of ['leak-rss', 'leak-heap', 'noleak-rss', 'noleak-heap']) {
    const file = join(eveDir, `eve-${series}.csv`);
    const a = analyzeTrace(parseTraceCsv(readFileSync(file, 'utf8'), file));
    eve.push({ series, verdict: a.verdict, detectedAtMin: a.detectedAtMs === null ? null : Math.round(a.detectedAtMs / 60_000), score: a.score, alerts: a.alerts.length });
  }
}

const cost = estimatorCost(traces.filter((tr) => tr.seed % 5 === 1));
const targets = {
  precision: figures.precision >= 0.95,
  recall: figures.recall >= 0.95,
  medianDetect10MiBPerHourWithin60Min: figures.fastLeakMedianDetectMin !== null && figures.fastLeakMedianDetectMin <= 60,
  firedAndResolvedAtMostOneInTen: figures.firedAndResolvedShare <= 0.1,
  eveLeaksWithin120Min: eve.length ? eve.filter((e) => e.series.startsWith('leak')).every((e) => e.verdict === 'leak' && e.detectedAtMin !== null && e.detectedAtMin <= 120 && e.score >= 3) : null,
  eveNoLeaksNeverFlagged: eve.length ? eve.filter((e) => e.series.startsWith('noleak')).every((e) => e.verdict === 'no-leak' && e.alerts === 0 && e.score <= 2) : null,
};

if (json) process.stdout.write(JSON.stringify({ set, perClass, figures, eve, cost, targets }) + '\n');
else {
  const lines = [`set ${set}, ${perClass} traces per class, 12 h at 5 s`, ...formatFigures(figures)];
  for (const e of eve) lines.push(`EVE ${e.series.padEnd(11)} ${e.verdict}, firing since ${e.detectedAtMin ?? '-'} min, final score ${e.score}, alerts ${e.alerts}`);
  lines.push(
    `cost per sample: ${cost.sampledUsPerSample.toFixed(2)} us (Theil-Sen on at most ${cost.slopePairs} pairs) vs ${cost.exactUsPerSample.toFixed(2)} us (every pair), ` +
      `${cost.samples} samples (CPU time); verdicts identical ${cost.sameVerdicts}/${cost.traces}, alerts identical ${cost.sameAlerts}/${cost.traces}, final slopes within ${(100 * cost.maxSlopeDifference).toFixed(1)} % (or ${(cost.maxSlopeDifferenceBytes / MiB).toFixed(2)} MiB/h)`,
  );
  lines.push(`targets: ${JSON.stringify(targets)}`);
  process.stdout.write(lines.join('\n') + '\n');
}
