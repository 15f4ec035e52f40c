import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { LeakWatcher, type LeakEvent } from '../../leak/leak-watcher';
import type { LeakTarget, MemorySource } from '../../leak/memory-source';
import type { Capability, CapabilityContext, RunningCapability } from '../capability';
import type { LeakConfig } from '../config-schema';

export interface LeakDeps {
  /** /proc and cgroup v2 readers (platform/linux), or a simulated source. */
  source: () => MemorySource;
}

/**
 * Leak detection under the daemon: the configured pids and cgroups (and the daemon itself, and with
 * `all` every process) sampled every intervalMs; suspect, confirmed (an alert fires), resolved and
 * cleared go to the log and the metrics (salvor_leak_alert_firing while an alert fires), confirmed leaks get their SVG chart under STATE/leak/, and the status page draws each
 * watched process's memory from the watcher's snapshot.
 */
export function leakCapability(cfg: LeakConfig, deps: LeakDeps): Capability {
  return {
    name: 'leak',
    configKey: JSON.stringify(cfg),
    async start(ctx: CapabilityContext): Promise<RunningCapability> {
      const targets: LeakTarget[] = [...cfg.pids.map((pid) => ({ kind: 'pid' as const, pid })), ...cfg.cgroups.map((path) => ({ kind: 'cgroup' as const, path }))];
      if (cfg.self && !cfg.pids.includes(process.pid)) targets.push({ kind: 'pid', pid: process.pid });
      const chartDir = join(ctx.stateDir, 'leak');
      await mkdir(chartDir, { recursive: true });
      const watcher = new LeakWatcher({ targets, all: cfg.all, intervalMs: cfg.intervalMs, chartDir }, deps.source());
      // The watcher never ends by itself (a failed round is a warning event); health catches a stall.
      const done = new Promise<void>(() => undefined);
      // Every series a dashboard plots exists from the start: each alert kind at 0, and each watched
      // process's score from its first sample (0 until the detector has enough history to score).
      for (const kind of ['suspect', 'confirmed', 'resolved', 'cleared']) ctx.metrics.leakAlerts.inc({ kind }, 0);
      watcher.on('event', (e: LeakEvent) => {
        if (e.event === 'sample') {
          if (e.pid !== undefined) ctx.metrics.leakScore.set({ pid: String(e.pid), name: e.name }, e.score ?? 0);
          return;
        }
        if (e.event !== 'warning') ctx.metrics.leakAlerts.inc({ kind: e.event });
        if (e.event === 'confirmed' || e.event === 'resolved') ctx.metrics.leakFiring.set({ target: e.target }, e.event === 'confirmed' ? 1 : 0);
        // the log line's `pid` is the daemon's own: the watched process is `watchedPid`
        const { pid, ...rest } = e;
        ctx.event(pid === undefined ? { ...rest } : { ...rest, watchedPid: pid });
      });
      watcher.start();
      let lastSamples = -1;
      let lastProgressAt = Date.now();
      return {
        done,
        health() {
          const s = watcher.snapshot();
          if (s.counts.samples !== lastSamples) {
            lastSamples = s.counts.samples;
            lastProgressAt = Date.now();
          }
          const idle = Date.now() - lastProgressAt;
          return idle > 3 * cfg.intervalMs + 5000 && s.targets.length ? { ok: false, detail: `no sample for ${idle} ms` } : { ok: true };
        },
        status() {
          const s = watcher.snapshot();
          ctx.metrics.leakWatched.set(s.targets.length);
          return {
            counts: s.counts,
            watched: s.targets.map((t) => ({ key: t.target, name: t.name, score: t.score ?? 0, state: t.state, alert: t.alert, lastResolved: t.lastResolved, bytes: t.bytes, slopeBytesPerHour: t.slopeBytesPerHour, samples: t.history.map((h) => [h.tMs, h.bytes]) })),
          };
        },
        stop: () => watcher.stop(),
      };
    },
  };
}
