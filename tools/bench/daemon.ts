/**
 * The daemon: start to READY (the "ready" log line, sent right after READY=1) against the start of a
 * bare Node process that prints one line (the anchor), and, measured once in setup, the daemon's CPU
 * (share of one core, from /proc/PID/stat over 10 s after it settles) and RSS when idle (nothing due:
 * NVRAM checked every minute, leak sampling every 5 s, no replication) and on the embedded default
 * (a local standby replicating at 100 ms epochs).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Benchmark } from './run';

const CLI = join(__dirname, '..', 'salvor.js');
const TICKS_PER_S = 100; // USER_HZ
const SETTLE_MS = 3000;
const WINDOW_MS = 10_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let dir = '';
let runs = 0;
const idleFigures: Record<string, { cpuPercent: number; rssMiB: number }> = {};

function start(config: object): { proc: ChildProcess; ready: Promise<void> } {
  const n = runs++;
  const file = join(dir, `config-${n}.json`);
  writeFileSync(file, JSON.stringify({ stateDir: join(dir, `var-${n}`), http: { listen: '127.0.0.1:0' }, ...config }));
  const proc = spawn(process.execPath, [CLI, 'daemon', '--config', file], { stdio: ['ignore', 'pipe', 'inherit'] });
  const ready = new Promise<void>((resolve, reject) => {
    proc.on('exit', (code) => reject(new Error(`the daemon exited ${code} before READY`)));
    createInterface({ input: proc.stdout! }).on('line', (l) => {
      if (l.includes('"event":"ready"')) resolve();
    });
  });
  return { proc, ready };
}

function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]); // utime + stime
}

async function idleFigure(config: object): Promise<{ cpuPercent: number; rssMiB: number }> {
  const d = start(config);
  await d.ready;
  await sleep(SETTLE_MS);
  const t0 = cpuTicks(d.proc.pid!);
  await sleep(WINDOW_MS);
  const ticks = cpuTicks(d.proc.pid!) - t0;
  const rss = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${d.proc.pid}/status`, 'utf8'))![1]) * 1024;
  d.proc.kill('SIGTERM');
  await new Promise((r) => d.proc.once('exit', r));
  return { cpuPercent: (ticks / TICKS_PER_S / (WINDOW_MS / 1000)) * 100, rssMiB: rss / 1048576 };
}

const quiet = { capabilities: { replication: { enabled: false } } };

export const daemonStartBenchmark: Benchmark = {
  name: 'daemon',
  title: 'salvor daemon: start to READY vs a bare node start; idle CPU and RSS',
  target: { kind: 'time-ratio', value: 12 }, // about 1 s over a bare node start of ~80 ms
  async setup() {
    dir = mkdtempSync(join(tmpdir(), 'salvor-bench-daemon-'));
    idleFigures.idle = await idleFigure(quiet);
    idleFigures.embeddedDefault = await idleFigure({});
    return {
      subject: {
        label: 'salvor daemon to READY',
        bytes: 0,
        run: async () => {
          const d = start(quiet);
          await d.ready;
          d.proc.kill('SIGTERM');
        },
      },
      anchor: {
        label: 'node -e (one line)',
        bytes: 0,
        run: () =>
          new Promise<void>((resolve) => {
            const p = spawn(process.execPath, ['-e', 'process.stdout.write("ready\\n")'], { stdio: ['ignore', 'pipe', 'inherit'] });
            createInterface({ input: p.stdout! }).once('line', () => resolve());
          }),
      },
    };
  },
  summarize(measured) {
    const readyMs = measured[0].medianMs;
    const lines = [
      `start to READY: ${readyMs.toFixed(0)} ms (target < 1000 ms: ${readyMs < 1000 ? 'met' : 'NOT met'})`,
      `idle (nvram + leak, no replication): CPU ${idleFigures.idle.cpuPercent.toFixed(2)} % of one core (target < 0.5 %: ${idleFigures.idle.cpuPercent < 0.5 ? 'met' : 'NOT met'}), RSS ${idleFigures.idle.rssMiB.toFixed(1)} MiB`,
      `embedded default (+ local standby at 100 ms epochs): CPU ${idleFigures.embeddedDefault.cpuPercent.toFixed(2)} % of one core, RSS ${idleFigures.embeddedDefault.rssMiB.toFixed(1)} MiB`,
    ];
    return { lines, json: { readyMs, idle: idleFigures.idle, embeddedDefault: idleFigures.embeddedDefault } };
  },
  teardown() {
    rmSync(dir, { recursive: true, force: true });
  },
};
