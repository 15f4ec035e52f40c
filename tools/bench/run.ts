/**
 * `npm run bench [-- <name>...] [--repeats N] [--list]`: runs the benchmarks in tools/bench/.
 * Each benchmark has a subject (salvor) and an anchor measured in the same process; both warm up,
 * then run interleaved for N repeats (at least 5). The medians, throughput and their ratio are
 * printed for people, then one JSON line per benchmark with the same figures (BENCH.md).
 */
import { cpus } from 'node:os';
import { performance } from 'node:perf_hooks';
import { crc32cBackend } from '../../bindings/crc';
import { crc32cBenchmark } from './crc32c';
import { daemonStartBenchmark } from './daemon';
import { hashScanBenchmark } from './hash-scan';
import { leakEvalBenchmark } from './leak-eval';
import { leakWatcherCpuBenchmark } from './leak-watcher-cpu';
import { nvramCheckBenchmark } from './nvram-check';
import { pageDeltaApplyBenchmark, pageDeltaEncodeBenchmark } from './page-delta';
import { replicationBenchmark } from './replication';
import { serialFramingBenchmark } from './serial-framing';
import { teeRecoveryBenchmark } from './tee';
import { trackingBenchmarks, writeFaultCosts } from './tracking';
import { transportTcpBenchmarks } from './transport-tcp';
import { verifySectorsBenchmark } from './verify-sectors';

/** One side of a comparison: a call that processes `bytes` bytes. */
export interface Side {
  label: string;
  bytes: number;
  run: () => unknown;
}

/**
 * How the ratio is formed and judged. 'speedup' is anchor time / subject time (higher is better);
 * 'time-ratio' is subject time / anchor time (lower is better).
 */
export interface Target {
  kind: 'speedup' | 'time-ratio';
  value: number;
}

export interface Benchmark {
  name: string;
  title: string;
  target: Target;
  /** Builds the inputs (outside the timed part) and returns the sides: subject, anchor, then extras. */
  setup: () => Promise<{ subject: Side; anchor: Side; extras?: Side[] }>;
  /** Further verdicts over all measured sides (subject, anchor, extras in order): lines to print and JSON fields. */
  summarize?: (measured: { label: string; medianMs: number }[]) => { lines: string[]; json: Record<string, unknown> };
  /** Frees what setup built (large regions) once the last benchmark that shares it has run. */
  teardown?: () => void;
}

const benchmarks: Benchmark[] = [
  crc32cBenchmark,
  verifySectorsBenchmark,
  nvramCheckBenchmark,
  hashScanBenchmark,
  pageDeltaEncodeBenchmark,
  pageDeltaApplyBenchmark,
  ...trackingBenchmarks,
  replicationBenchmark,
  serialFramingBenchmark,
  ...transportTcpBenchmarks,
  leakEvalBenchmark,
  leakWatcherCpuBenchmark,
  daemonStartBenchmark,
  teeRecoveryBenchmark,
];

const WARMUP = 3;
const MIN_REPEATS = 5;

async function timeOnce(side: Side): Promise<number> {
  const start = performance.now();
  await side.run();
  return performance.now() - start;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

interface Measured {
  label: string;
  medianMs: number;
  gbPerS: number;
  samplesMs: number[];
}

/** Warm-up, then interleaved repeats (the order alternates) so drift in the machine hits every side alike. */
async function measure(sides: Side[], repeats: number): Promise<Measured[]> {
  for (const side of sides) for (let i = 0; i < WARMUP; i++) await side.run();
  const samples = sides.map(() => [] as number[]);
  for (let r = 0; r < repeats; r++) {
    const order = r % 2 ? [...sides.keys()].reverse() : [...sides.keys()];
    for (const i of order) samples[i].push(await timeOnce(sides[i]));
  }
  return sides.map((side, i) => {
    const medianMs = median(samples[i]);
    return { label: side.label, medianMs, gbPerS: side.bytes / (medianMs / 1000) / 1e9, samplesMs: samples[i] };
  });
}

function ratioOf(target: Target, subject: Measured, other: Measured): number {
  return target.kind === 'speedup' ? other.medianMs / subject.medianMs : subject.medianMs / other.medianMs;
}

function targetMet(target: Target, ratio: number): boolean {
  return target.kind === 'speedup' ? ratio >= target.value : ratio <= target.value;
}

const round = (v: number, digits: number): number => Number(v.toFixed(digits));

async function runOne(bench: Benchmark, repeats: number, backend: string): Promise<void> {
  const { subject, anchor, extras = [] } = await bench.setup();
  const [s, a, ...x] = await measure([subject, anchor, ...extras], repeats);
  const ratio = ratioOf(bench.target, s, a);
  const met = targetMet(bench.target, ratio);
  const ratioName = bench.target.kind === 'speedup' ? 'speedup (anchor/subject time)' : 'time ratio (subject/anchor)';
  const sign = bench.target.kind === 'speedup' ? '>=' : '<=';
  const line = (m: Measured, role: string): string =>
    `  ${role.padEnd(8)} ${m.label.padEnd(52)} median ${m.medianMs.toFixed(2).padStart(8)} ms  ${m.gbPerS.toFixed(2).padStart(6)} GB/s`;
  process.stdout.write(`\n${bench.name}: ${bench.title} (${repeats} repeats after ${WARMUP} warm-up runs)\n`);
  process.stdout.write(`${line(s, 'subject')}\n${line(a, 'anchor')}\n`);
  for (const m of x) process.stdout.write(`${line(m, 'extra')}  ${ratioOf(bench.target, m, a).toFixed(2)}x vs anchor\n`);
  process.stdout.write(`  ${ratioName}: ${ratio.toFixed(2)}x, target ${sign} ${bench.target.value}x: ${met ? 'met' : 'NOT met'}\n`);
  const summary = bench.summarize?.([s, a, ...x]);
  for (const l of summary?.lines ?? []) process.stdout.write(`  ${l}\n`);
  const side = (m: Measured) => ({ label: m.label, medianMs: round(m.medianMs, 3), gbPerS: round(m.gbPerS, 2) });
  const json = {
    benchmark: bench.name,
    crc32cBackend: backend,
    repeats,
    subject: side(s),
    anchor: side(a),
    extras: x.map((m) => ({ ...side(m), ratio: round(ratioOf(bench.target, m, a), 2) })),
    ratioKind: bench.target.kind,
    ratio: round(ratio, 2),
    target: bench.target.value,
    met,
    ...summary?.json,
  };
  process.stdout.write(`${JSON.stringify(json)}\n`);
}

function usage(message: string): never {
  process.stderr.write(`bench: ${message}\nusage: npm run bench -- [name...] [--repeats N] [--list]\n`);
  process.exit(16);
}

async function main(argv: string[]): Promise<void> {
  let repeats = 15;
  const names: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--list') {
      for (const b of benchmarks) process.stdout.write(`${b.name}\t${b.title}\n`);
      return;
    } else if (arg === '--repeats') {
      repeats = Number(argv[++i]);
      if (!Number.isInteger(repeats) || repeats < MIN_REPEATS) usage(`--repeats must be an integer >= ${MIN_REPEATS}`);
    } else if (arg.startsWith('-')) usage(`unknown option ${arg}`);
    else names.push(arg);
  }
  const unknown = names.filter((n) => !benchmarks.some((b) => b.name === n));
  if (unknown.length) usage(`unknown benchmark ${unknown.join(', ')} (known: ${benchmarks.map((b) => b.name).join(', ')})`);
  const selected = names.length ? benchmarks.filter((b) => names.includes(b.name)) : benchmarks;
  const backend = crc32cBackend();
  process.stdout.write(`salvor bench: ${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} CPUs, Node ${process.version}, CRC-32C backend ${backend}\n`);
  if (selected.some((b) => b.name.startsWith('tracking-'))) process.stdout.write(`write-fault cost (ns per page): ${JSON.stringify(writeFaultCosts())}\n`);
  for (const bench of selected) await runOne(bench, repeats, backend);
  for (const bench of selected) bench.teardown?.();
}

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(8);
});
