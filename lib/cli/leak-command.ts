import { writeFileSync } from 'node:fs';
import { Command, InvalidArgumentError, Option } from 'commander';
import { SalvorError } from '../../bindings/salvor-error';
import { analyzeTrace } from '../leak/analyze-trace';
import { LeakWatcher, type LeakEvent } from '../leak/leak-watcher';
import type { LeakTarget } from '../leak/memory-source';
import { parseTraceCsv } from '../leak/trace-csv';
import { verb } from './command';
import { Exit } from './exit-codes';
import { readInputFile, usageError, type Output } from './output';
import type { CliPlatform } from './platform';

interface WatchOpts {
  pid: number[];
  cgroup: string[];
  all?: boolean;
  interval: number;
  verbose?: boolean;
  exec?: string;
  webhook?: string;
  chartDir?: string;
  json?: boolean;
}

function collectPid(value: string, previous: number[]): number[] {
  if (!/^\d+$/.test(value) || Number(value) < 1) throw new InvalidArgumentError(`'${value}' is not a process id`);
  return [...previous, Number(value)];
}

function seconds(value: string): number {
  const n = Number(value);
  if (!/^\d*\.?\d+$/.test(value.trim()) || !(n > 0) || n > 86_400) throw new InvalidArgumentError(`'${value}' is not a number of seconds (0 < S <= 86400)`);
  return n;
}

const mib = (b: number | undefined): string => (b === undefined ? '-' : `${(b / 1048576).toFixed(1)} MiB`);

function humanLine(e: LeakEvent): string {
  const who = e.pid !== undefined ? `pid ${e.pid} (${e.name})` : `cgroup ${e.cgroup} (${e.name})`;
  if (e.event === 'warning') return `warning ${e.target}: ${e.message}`;
  const slope = e.slopeBytesPerHour !== undefined ? `, ${mib(e.slopeBytesPerHour)}/h` : '';
  return `${e.event.padEnd(9)} ${who}: ${mib(e.bytes)}, score ${e.score ?? '-'}${slope}${e.reason ? `, ${e.reason}` : ''}`;
}

async function watch(o: WatchOpts, out: Output, platform: CliPlatform): Promise<typeof Exit.ok> {
  const targets: LeakTarget[] = [...o.pid.map((pid): LeakTarget => ({ kind: 'pid', pid })), ...o.cgroup.map((path): LeakTarget => ({ kind: 'cgroup', path }))];
  if (!targets.length && !o.all) throw usageError('leak watch: give --pid P, --cgroup PATH or --all');
  if (o.webhook && !/^http:\/\//.test(o.webhook)) throw usageError(`--webhook ${o.webhook}: an http:// URL is needed`);
  if (!platform.leakMemorySource) throw new SalvorError('SALVOR_UNSUPPORTED', 'leak watch: no memory source on this platform');
  const source = platform.leakMemorySource();
  for (const t of targets) {
    if (!(await source.read(t))) {
      const what = t.kind === 'pid' ? `--pid ${t.pid}: no such process (or it has no anonymous memory)` : `--cgroup ${t.path}: no cgroup v2 memory.stat there`;
      throw new SalvorError('SALVOR_BAD_INPUT', what, t.kind === 'cgroup' ? { path: t.path } : {});
    }
  }
  const watcher = new LeakWatcher(
    { targets, all: o.all, intervalMs: Math.round(o.interval * 1000), hooks: { exec: o.exec, webhook: o.webhook }, chartDir: o.chartDir },
    source,
  );
  watcher.on('event', (e: LeakEvent) => {
    if (e.event === 'sample' && !o.verbose) return;
    if (out.json) process.stdout.write(JSON.stringify({ ...e, time: new Date(e.tMs).toISOString() }) + '\n');
    else out.note(humanLine(e));
  });
  out.note(`leak watch: ${targets.length} target(s)${o.all ? ' and every process' : ''}, every ${o.interval} s; SIGINT or SIGTERM stops`);
  watcher.start();
  await new Promise<void>((resolve) => {
    const done = () => resolve();
    process.once('SIGINT', done);
    process.once('SIGTERM', done);
  });
  await watcher.stop();
  return Exit.ok;
}

export function registerLeak(program: Command, platform: CliPlatform): void {
  const leak = program
    .command('leak')
    .description('memory leak detection: growth-pattern score, prediction, confirmation against current usage, alert')
    .addHelpText('after', '\nEvents (--json): one JSON object per line: suspect, confirmed (an alert fires), resolved (it stops), cleared (sample with --verbose). See docs/leak.md.');

  verb<WatchOpts>(
    leak
      .command('watch')
      .description('watch processes and services for leaks; runs until SIGINT or SIGTERM (then exit 0)')
      .addOption(new Option('--pid <pid>', 'watch this process (repeatable)').argParser(collectPid).default([]))
      .addOption(new Option('--cgroup <path>', 'watch this cgroup v2 service, relative to /sys/fs/cgroup or absolute (repeatable)').argParser((v: string, prev: string[]) => [...prev, v]).default([]))
      .option('--all', 'watch every process with anonymous memory (rescanned each minute at 5 s)')
      .addOption(new Option('--interval <s>', 'seconds between samples').default(5).argParser(seconds))
      .option('--verbose', 'also print a sample event per target per interval')
      .option('--exec <command>', 'run this shell command when an alert fires and when it resolves (event JSON on stdin and in $SALVOR_LEAK_EVENT)')
      .option('--webhook <url>', 'POST each alert firing and resolving as JSON to this http:// URL')
      .option('--chart-dir <dir>', 'write an SVG chart of each confirmed leak into this directory'),
    (o, out) => watch(o, out, platform),
  );

  verb<{ trace: string; svg?: string; json?: boolean }>(
    leak
      .command('analyze')
      .description('analyse a recorded trace offline (CSV: t_ms,bytes a line; a header line allowed; further columns ignored)')
      .requiredOption('--trace <file>', 'the trace CSV')
      .option('--svg <out>', 'write an SVG chart with the fitted trend and the detection marker'),
    async (o, out) => {
      const text = readInputFile('--trace', o.trace);
      const analysis = analyzeTrace(parseTraceCsv(text, o.trace));
      if (o.svg) {
        try {
          writeFileSync(o.svg, analysis.svg(o.trace));
        } catch (e) {
          throw SalvorError.fromNode(e, o.svg);
        }
      }
      const { verdict, score, detectedAtMs, slopeBytesPerHour, alerts } = analysis;
      const minutes = (ms: number): string => `${(ms / 60_000).toFixed(1)} min`;
      out.result({ verdict, score, detectedAtMs, slopeBytesPerHour, alerts }, () =>
        `${verdict}: score ${score}${detectedAtMs !== null ? `, firing since ${minutes(detectedAtMs)}` : ''}, trend ${mib(slopeBytesPerHour)}/h` +
        (alerts.length ? `; alerts: ${alerts.map((a) => `${minutes(a.firedAtMs)}-${a.resolvedAtMs === null ? 'end' : minutes(a.resolvedAtMs)}`).join(', ')}` : ''),
      );
      return Exit.ok;
    },
  );
}
