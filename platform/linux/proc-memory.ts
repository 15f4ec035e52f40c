/**
 * The Linux MemorySource: RssAnon and the process name from /proc/PID/status, the start time from
 * /proc/PID/stat (a new start time is a restart), the limit from the process's cgroup v2 memory.max
 * or MemTotal; cgroup targets from memory.stat `anon`; smaps_rollup only for confirmation; the V8
 * heap after GC from a report file when the Node process opted in (lib/leak/v8-heap-report.ts).
 */
import { readFile, readdir, stat } from 'node:fs/promises';
import { basename, isAbsolute, join } from 'node:path';
import type { ConfirmationReading, LeakTarget, MemoryReading, MemorySource } from '../../lib/leak/memory-source';
import { readHeapReport } from '../../lib/leak/v8-heap-report';

export interface ProcMemoryOptions {
  procRoot?: string;
  cgroupRoot?: string;
  /** Where opted-in Node processes write their heap reports; none read when absent. */
  v8HeapDir?: string;
}

/** `Key:   1234 kB` lines of /proc/PID/status, smaps_rollup and /proc/meminfo, in bytes. */
export function kbField(text: string, key: string): number | undefined {
  const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text);
  return m ? Number(m[1]) * 1024 : undefined;
}

/** The start time (clock ticks since boot): field 22 of /proc/PID/stat, counted after the comm. */
export function startTimeOf(statText: string): string | undefined {
  const close = statText.lastIndexOf(')');
  if (close < 0) return undefined;
  return statText.slice(close + 2).split(' ')[19];
}

export class ProcMemorySource implements MemorySource {
  private readonly proc: string;
  private readonly cgroupRoot: string;
  private ramBytes: number | undefined;
  private readonly limits = new Map<string, number | undefined>();

  constructor(private readonly options: ProcMemoryOptions = {}) {
    this.proc = options.procRoot ?? '/proc';
    this.cgroupRoot = options.cgroupRoot ?? '/sys/fs/cgroup';
  }

  async read(target: LeakTarget): Promise<MemoryReading | undefined> {
    return target.kind === 'pid' ? this.readPid(target.pid) : this.readCgroup(target.path);
  }

  private async readPid(pid: number): Promise<MemoryReading | undefined> {
    let status: string;
    let statText: string;
    try {
      [status, statText] = await Promise.all([readFile(join(this.proc, String(pid), 'status'), 'utf8'), readFile(join(this.proc, String(pid), 'stat'), 'utf8')]);
    } catch {
      return undefined; // gone
    }
    const anon = kbField(status, 'RssAnon');
    if (anon === undefined) return undefined; // a kernel thread, or a zombie
    const name = /^Name:\s*(.*)$/m.exec(status)?.[1] ?? String(pid);
    const instance = `${pid}@${startTimeOf(statText) ?? '?'}`;
    if (!this.limits.has(instance)) this.limits.set(instance, await this.pidLimit(pid));
    const heap = this.options.v8HeapDir ? await readHeapReport(this.options.v8HeapDir, pid) : undefined;
    const limitBytes = this.limits.get(instance);
    if (heap !== undefined) return { bytes: heap, metric: 'v8-heap', instance, name, limitBytes };
    return { bytes: anon, metric: 'rss-anon', instance, name, limitBytes };
  }

  private async pidLimit(pid: number): Promise<number | undefined> {
    try {
      const cg = await readFile(join(this.proc, String(pid), 'cgroup'), 'utf8');
      const path = /^0::(.*)$/m.exec(cg)?.[1];
      if (path) {
        const max = await this.cgroupMax(join(this.cgroupRoot, path));
        if (max !== undefined) return max;
      }
    } catch {
      // no cgroup v2: the RAM is the limit
    }
    return this.ram();
  }

  private async cgroupMax(dir: string): Promise<number | undefined> {
    try {
      const v = (await readFile(join(dir, 'memory.max'), 'utf8')).trim();
      return /^\d+$/.test(v) ? Number(v) : undefined;
    } catch {
      return undefined;
    }
  }

  private async ram(): Promise<number | undefined> {
    if (this.ramBytes === undefined) {
      try {
        this.ramBytes = kbField(await readFile(join(this.proc, 'meminfo'), 'utf8'), 'MemTotal');
      } catch {
        this.ramBytes = undefined;
      }
    }
    return this.ramBytes;
  }

  private cgroupDir(path: string): string {
    return isAbsolute(path) && path.startsWith(this.cgroupRoot) ? path : join(this.cgroupRoot, path);
  }

  private async readCgroup(path: string): Promise<MemoryReading | undefined> {
    const dir = this.cgroupDir(path);
    try {
      const [memStat, st] = await Promise.all([readFile(join(dir, 'memory.stat'), 'utf8'), stat(dir)]);
      const anon = /^anon (\d+)$/m.exec(memStat);
      if (!anon) return undefined;
      // A service restarted by systemd gets a fresh cgroup directory: a new inode, a new segment.
      return { bytes: Number(anon[1]), metric: 'cgroup-anon', instance: `cgroup@${st.ino}`, name: basename(dir), limitBytes: (await this.cgroupMax(dir)) ?? (await this.ram()) };
    } catch {
      return undefined;
    }
  }

  async listProcesses(): Promise<number[]> {
    const out: number[] = [];
    for (const entry of await readdir(this.proc)) {
      if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
      try {
        const status = await readFile(join(this.proc, entry, 'status'), 'utf8');
        if (kbField(status, 'RssAnon')) out.push(Number(entry));
      } catch {
        // exited while listing
      }
    }
    return out;
  }

  async confirm(target: LeakTarget): Promise<ConfirmationReading | undefined> {
    if (target.kind !== 'pid') return undefined;
    try {
      const text = await readFile(join(this.proc, String(target.pid), 'smaps_rollup'), 'utf8');
      const anonymousBytes = kbField(text, 'Anonymous');
      return anonymousBytes === undefined ? undefined : { anonymousBytes, swapBytes: kbField(text, 'Swap') ?? 0 };
    } catch {
      return undefined;
    }
  }
}
