/**
 * The leak watcher's cost watching 50 real processes (sleeping children): one sampling round over
 * all of them (RssAnon and start time from /proc, the detectors fed) against the floor of reading
 * /proc/PID/status of the same 50 processes. summarize turns the round's time into the CPU share of
 * one core at the default 5 s interval, and reports the memory a day of history costs per target.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { LeakDetector } from '../../lib/leak/leak-detector';
import { LeakWatcher } from '../../lib/leak/leak-watcher';
import type { WatchClock } from '../../lib/leak/memory-source';
import { ProcMemorySource } from '../../platform/linux/proc-memory';
import type { Benchmark } from './run';

const PROCESSES = 50;
const INTERVAL_MS = 5000;
let children: ChildProcess[] = [];
let memory: { heapBytesPerTarget: number; rawSamples: number; buckets: number; coarse: number } | undefined;

/** Heap a watched target costs once its history is full (a day and a half of 5 s samples). */
function historyCost(): NonNullable<typeof memory> {
  global.gc?.();
  const before = process.memoryUsage().heapUsed;
  const detectors = Array.from({ length: PROCESSES }, () => new LeakDetector());
  for (let i = 0; i < 26_000; i++) for (const d of detectors) d.add(i * INTERVAL_MS, 5e7 + (i % 97) * 4096, 'x');
  global.gc?.();
  const after = process.memoryUsage().heapUsed;
  const f = detectors[0].history.footprint();
  return { heapBytesPerTarget: Math.round((after - before) / PROCESSES), rawSamples: f.raw, buckets: f.buckets, coarse: f.coarse };
}

export const leakWatcherCpuBenchmark: Benchmark = {
  name: 'leak-watcher-cpu',
  title: `leak watcher: one sampling round over ${PROCESSES} sleeping processes vs reading their /proc/PID/status`,
  target: { kind: 'time-ratio', value: 3 },
  setup: async () => {
    children = Array.from({ length: PROCESSES }, () => spawn('sleep', ['3600'], { stdio: 'ignore' }));
    const pids = children.map((c) => c.pid as number);
    let t = 0;
    const clock: WatchClock = { now: () => (t += INTERVAL_MS), schedule: () => () => undefined }; // each round is 5 s later
    const watcher = new LeakWatcher({ targets: pids.map((pid) => ({ kind: 'pid', pid })), intervalMs: INTERVAL_MS }, new ProcMemorySource(), clock);
    memory = historyCost();
    return {
      subject: { label: `LeakWatcher.tick(), ${PROCESSES} processes`, bytes: PROCESSES, run: () => watcher.tick() },
      anchor: { label: `readFile /proc/PID/status x ${PROCESSES}`, bytes: PROCESSES, run: () => Promise.all(pids.map((p) => readFile(`/proc/${p}/status`, 'utf8'))) },
    };
  },
  summarize: (measured) => {
    const tickMs = measured[0].medianMs;
    const cpuPercent = (tickMs / INTERVAL_MS) * 100;
    return {
      lines: [
        `one round ${tickMs.toFixed(2)} ms every ${INTERVAL_MS / 1000} s: about ${cpuPercent.toFixed(3)} % of one core (target <= 1 %: ${cpuPercent <= 1 ? 'met' : 'NOT met'}); wall time of the round, an upper bound of its CPU time`,
        `memory per target with a full history: ${memory ? (memory.heapBytesPerTarget / 1024).toFixed(1) : '?'} KiB heap (${JSON.stringify(memory)})`,
      ],
      json: { roundMs: Number(tickMs.toFixed(3)), cpuPercentAt5s: Number(cpuPercent.toFixed(4)), cpuTargetMet: cpuPercent <= 1, memory },
    };
  },
  teardown: () => {
    for (const c of children) c.kill('SIGKILL');
    children = [];
  },
};
