/**
 * What the leak watcher samples, behind one interface: platform/linux/proc-memory.ts reads /proc and
 * cgroup v2; platform/sim/memory-trace-source.ts replays generated traces. lib/ never reads /proc.
 */

/** A watched component: one process, or one service (a cgroup v2 directory). */
export type LeakTarget = { kind: 'pid'; pid: number } | { kind: 'cgroup'; path: string };

export interface MemoryReading {
  /** Anonymous bytes: RssAnon of a process, `anon` of a cgroup's memory.stat, or the V8 heap after GC. */
  bytes: number;
  /** Which figure `bytes` is. */
  metric: 'rss-anon' | 'cgroup-anon' | 'v8-heap';
  /** Changes when the process restarts (pid reuse or a service's new main process): starts a new segment. */
  instance: string;
  /** The process name (comm) or the cgroup's last path component. */
  name: string;
  /** The memory limit the projection aims at: the cgroup's memory.max, else the RAM. */
  limitBytes?: number;
}

/** A closer look taken only when confirming a suspect (smaps_rollup locks the target's memory map). */
export interface ConfirmationReading {
  anonymousBytes: number;
  swapBytes: number;
}

export interface MemorySource {
  /** One reading of the target; undefined when it is gone (the process exited, the cgroup was removed). */
  read(target: LeakTarget): Promise<MemoryReading | undefined>;
  /** The processes `--all` watches (user processes with anonymous memory). */
  listProcesses?(): Promise<number[]>;
  /** A precise reading for confirmation; absent or undefined when the source has none. */
  confirm?(target: LeakTarget): Promise<ConfirmationReading | undefined>;
}

/** The time the watcher runs on: the wall clock in production, a simulated one in tests. */
export interface WatchClock {
  now(): number;
  /** Calls `fn` after `ms`; returns a cancel function. */
  schedule(ms: number, fn: () => void): () => void;
}

export const realClock: WatchClock = {
  now: () => Date.now(),
  schedule: (ms, fn) => {
    const timer = setTimeout(fn, ms);
    return () => clearTimeout(timer);
  },
};

export function targetKey(t: LeakTarget): string {
  return t.kind === 'pid' ? `pid:${t.pid}` : `cgroup:${t.path}`;
}
