/**
 * Opt-in V8 heap reports: a Node process that calls `reportHeapAfterGc(dir)` writes its heap size
 * after each major garbage collection (at most once a second) to DIR/PID.json as
 * `{"v":1,"pid":..,"heapUsedBytes":..,"tMs":..}`. The watcher then samples that instead of RssAnon:
 * a heap after GC holds only live objects, so a leak shows without the sawtooth.
 */
import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PerformanceObserver, constants } from 'node:perf_hooks';

/** Starts reporting; returns a function that stops it. */
export function reportHeapAfterGc(dir: string, minGapMs = 1000): () => void {
  let last = 0;
  let writing = false;
  const file = join(dir, `${process.pid}.json`);
  const observer = new PerformanceObserver((list) => {
    const major = list.getEntries().some((e) => (e as unknown as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR);
    const now = Date.now();
    if (!major || writing || now - last < minGapMs) return;
    last = now;
    writing = true;
    const body = JSON.stringify({ v: 1, pid: process.pid, heapUsedBytes: process.memoryUsage().heapUsed, tMs: now });
    writeFile(`${file}.tmp`, body)
      .then(() => rename(`${file}.tmp`, file))
      .catch(() => undefined) // reporting is best effort: the process must not fail for it
      .finally(() => {
        writing = false;
      });
  });
  observer.observe({ entryTypes: ['gc'] });
  return () => observer.disconnect();
}

/** The last reported heap bytes of `pid`, or undefined when it never reported. */
export async function readHeapReport(dir: string, pid: number): Promise<number | undefined> {
  try {
    const r = JSON.parse(await readFile(join(dir, `${pid}.json`), 'utf8')) as { v?: number; pid?: number; heapUsedBytes?: number };
    return r.v === 1 && r.pid === pid && typeof r.heapUsedBytes === 'number' ? r.heapUsedBytes : undefined;
  } catch {
    return undefined;
  }
}
