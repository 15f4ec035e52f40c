/**
 * Page dirty tracking (the native core of standby join and replication). A region is memory salvor
 * tracks page by page; trackers of several kinds can watch it. The interfaces here are what the
 * platform provides (platform/linux/tracked-memory.ts); policy lives in tracked-region.ts.
 */
export type TrackerKind = 'uffd-wp' | 'soft-dirty' | 'mprotect' | 'hash';
export type BackendChoice = TrackerKind | 'auto';

/** Pages [first, first+count) written since the previous round. */
export interface PageRun {
  first: number;
  count: number;
}

/** Tracked memory with trackers attached by kind; each kind's collect re-arms it in the same step. */
export interface TrackedMemory {
  readonly size: number;
  readonly pageSize: number;
  /** A MAP_SHARED file other processes may write (only the hash tracker sees their writes). */
  readonly shared: boolean;
  readonly label: string;
  /** The whole memory as one Buffer; SalvorError SALVOR_TOO_LARGE past Node's Buffer limit (use window). */
  buffer(): Buffer;
  /** Bytes [offset, offset + length) as a Buffer sharing the memory; length at most the Buffer limit. */
  window(offset: number, length: number): Buffer;
  /** Throws SalvorError when this kind cannot watch this memory here (the reason is in the message). */
  attach(kind: TrackerKind): void;
  arm(kind: TrackerKind): Promise<void>;
  collect(kind: TrackerKind): Promise<PageRun[]>;
  detach(kind: TrackerKind): void;
  /**
   * Copies the pages of `runs` (in order, contiguous) and makes content-comparing trackers remember
   * exactly that copy, so a page that changes and changes back before the next round is reported.
   */
  stage(runs: PageRun[]): Promise<Buffer>;
  close(): void;
}

/** Per-process measurements the auto policy weighs (from the platform's calibration). */
export interface TrackerCosts {
  /** Nanoseconds one write fault costs the writer, per fault-based kind (undefined: not measured). */
  writeFaultNs: Partial<Record<TrackerKind, number>>;
  /** Nanoseconds the hash scan takes per byte (undefined: not measured; the policy then assumes 8 GB/s). */
  hashNsPerByte?: number;
}

/** Merges run lists into one sorted list of disjoint, coalesced runs. */
export function mergeRuns(...lists: PageRun[][]): PageRun[] {
  const all = lists.flat().sort((a, b) => a.first - b.first);
  const out: PageRun[] = [];
  for (const r of all) {
    const last = out[out.length - 1];
    if (last && r.first <= last.first + last.count) last.count = Math.max(last.count, r.first + r.count - last.first);
    else out.push({ first: r.first, count: r.count });
  }
  return out;
}

export function runPages(runs: PageRun[]): number {
  return runs.reduce((n, r) => n + r.count, 0);
}
