/**
 * Bounded memory history of one watched target: a ring of the latest raw samples, a ring of
 * fixed-width buckets (min, max, mean, last) and a ring of coarse buckets for the long view.
 * Capacities are fixed at construction, so a target costs the same after a week as after a minute.
 * A restart (a new process instance) starts a new segment: statistics never span two segments.
 */

export interface MemoryBucket {
  startMs: number;
  min: number;
  max: number;
  mean: number;
  last: number;
  count: number;
  segment: number;
}

export interface HistoryLimits {
  /** Raw samples kept (default 720: an hour at 5 s). */
  rawCapacity: number;
  /** Width of a bucket (default 60 s). */
  bucketMs: number;
  /** Buckets kept (default 1440: a day of minutes). */
  bucketCapacity: number;
  /** Buckets merged into one coarse bucket (default 15). */
  coarseFactor: number;
  /** Coarse buckets kept (default 672: a week of quarter hours). */
  coarseCapacity: number;
}

export const defaultHistoryLimits: HistoryLimits = { rawCapacity: 720, bucketMs: 60_000, bucketCapacity: 1440, coarseFactor: 15, coarseCapacity: 672 };

/** A fixed-capacity ring of records with numeric fields, oldest first when read. */
class BucketRing {
  private readonly items: (MemoryBucket | undefined)[];
  private head = 0;
  private size = 0;
  constructor(readonly capacity: number) {
    this.items = new Array<MemoryBucket | undefined>(capacity);
  }
  push(b: MemoryBucket): void {
    this.items[(this.head + this.size) % this.capacity] = b;
    if (this.size < this.capacity) this.size++;
    else this.head = (this.head + 1) % this.capacity;
  }
  get length(): number {
    return this.size;
  }
  at(i: number): MemoryBucket {
    return this.items[(this.head + i) % this.capacity] as MemoryBucket;
  }
  toArray(): MemoryBucket[] {
    return Array.from({ length: this.size }, (_, i) => this.at(i));
  }
}

function openBucket(startMs: number, bytes: number, segment: number): MemoryBucket {
  return { startMs, min: bytes, max: bytes, mean: bytes, last: bytes, count: 1, segment };
}

function addTo(b: MemoryBucket, bytes: number): void {
  if (bytes < b.min) b.min = bytes;
  if (bytes > b.max) b.max = bytes;
  b.mean += (bytes - b.mean) / (b.count + 1);
  b.count++;
  b.last = bytes;
}

/** Merges consecutive buckets of one segment into one. */
export function mergeBuckets(parts: MemoryBucket[]): MemoryBucket {
  const out = { ...parts[0] };
  let total = parts[0].mean * parts[0].count;
  for (let i = 1; i < parts.length; i++) {
    const p = parts[i];
    out.min = Math.min(out.min, p.min);
    out.max = Math.max(out.max, p.max);
    out.count += p.count;
    out.last = p.last;
    total += p.mean * p.count;
  }
  out.mean = total / out.count;
  return out;
}

export interface SegmentInfo {
  index: number;
  startMs: number;
  instance: string;
}

export class MemoryHistory {
  readonly limits: HistoryLimits;
  private readonly rawT: Float64Array;
  private readonly rawBytes: Float64Array;
  private rawHead = 0;
  private rawSize = 0;
  private readonly buckets: BucketRing;
  private readonly coarse: BucketRing;
  private open: MemoryBucket | undefined;
  private coarsePending: MemoryBucket[] = [];
  private segmentInfo: SegmentInfo | undefined;
  private segmentsSeen = 0;
  /** Buckets closed since the history began (drives periodic evaluation). */
  closedBuckets = 0;
  /** Start and minimum of the current segment's closed buckets, for the score. */
  readonly minima: BucketMinima;

  constructor(limits: Partial<HistoryLimits> = {}) {
    this.limits = { ...defaultHistoryLimits, ...limits };
    this.rawT = new Float64Array(this.limits.rawCapacity);
    this.rawBytes = new Float64Array(this.limits.rawCapacity);
    this.buckets = new BucketRing(this.limits.bucketCapacity);
    this.coarse = new BucketRing(this.limits.coarseCapacity);
    this.minima = new BucketMinima(this.limits.bucketCapacity);
  }

  get segment(): SegmentInfo | undefined {
    return this.segmentInfo;
  }

  get segmentCount(): number {
    return this.segmentsSeen;
  }

  /** Adds a sample; returns true when it closed a bucket. A new `instance` starts a new segment. */
  add(tMs: number, bytes: number, instance: string): boolean {
    let closed = false;
    if (!this.segmentInfo || this.segmentInfo.instance !== instance) {
      closed = this.closeOpen();
      this.segmentInfo = { index: this.segmentsSeen++, startMs: tMs, instance };
      this.minima.clear();
    }
    const slot = (this.rawHead + this.rawSize) % this.limits.rawCapacity;
    this.rawT[slot] = tMs;
    this.rawBytes[slot] = bytes;
    if (this.rawSize < this.limits.rawCapacity) this.rawSize++;
    else this.rawHead = (this.rawHead + 1) % this.limits.rawCapacity;

    const seg = this.segmentInfo.index;
    const start = this.segmentInfo.startMs + Math.floor((tMs - this.segmentInfo.startMs) / this.limits.bucketMs) * this.limits.bucketMs;
    if (this.open && this.open.startMs === start) addTo(this.open, bytes);
    else {
      closed = this.closeOpen() || closed;
      this.open = openBucket(start, bytes, seg);
    }
    return closed;
  }

  private closeOpen(): boolean {
    const b = this.open;
    if (!b) return false;
    this.open = undefined;
    this.buckets.push(b);
    this.closedBuckets++;
    this.minima.push(b.startMs, b.min);
    if (this.coarsePending.length && this.coarsePending[0].segment !== b.segment) this.flushCoarse();
    this.coarsePending.push(b);
    if (this.coarsePending.length >= this.limits.coarseFactor) this.flushCoarse();
    return true;
  }

  private flushCoarse(): void {
    if (this.coarsePending.length) this.coarse.push(mergeBuckets(this.coarsePending));
    this.coarsePending = [];
  }

  /** Closed buckets of the current segment that start at or after `sinceMs`, oldest first. */
  segmentBuckets(sinceMs = -Infinity): MemoryBucket[] {
    const seg = this.segmentInfo?.index;
    const out: MemoryBucket[] = [];
    for (let i = this.buckets.length - 1; i >= 0; i--) {
      const b = this.buckets.at(i);
      if (b.segment !== seg || b.startMs < sinceMs) break;
      out.push(b);
    }
    return out.reverse();
  }

  /** The raw samples kept, oldest first. */
  raw(): { tMs: number; bytes: number }[] {
    return Array.from({ length: this.rawSize }, (_, i) => {
      const slot = (this.rawHead + i) % this.limits.rawCapacity;
      return { tMs: this.rawT[slot], bytes: this.rawBytes[slot] };
    });
  }

  /** The latest raw sample, if any. */
  latest(): { tMs: number; bytes: number } | undefined {
    if (!this.rawSize) return undefined;
    const slot = (this.rawHead + this.rawSize - 1) % this.limits.rawCapacity;
    return { tMs: this.rawT[slot], bytes: this.rawBytes[slot] };
  }

  bucketList(): MemoryBucket[] {
    return this.buckets.toArray();
  }

  coarseList(): MemoryBucket[] {
    return this.coarse.toArray();
  }

  /** How many records this history holds now (each bounded by its capacity). */
  footprint(): { raw: number; buckets: number; coarse: number } {
    return { raw: this.rawSize, buckets: this.buckets.length, coarse: this.coarse.length };
  }
}

/**
 * The start time and minimum of each closed bucket of the current segment, in two typed arrays the
 * score reads without copying: appended at the end, compacted when full (each value moves at most
 * once per capacity appends), cleared at a restart.
 */
export class BucketMinima {
  private readonly starts: Float64Array;
  private readonly minima: Float64Array;
  private head = 0;
  private size = 0;

  constructor(readonly capacity: number) {
    this.starts = new Float64Array(2 * capacity);
    this.minima = new Float64Array(2 * capacity);
  }

  push(startMs: number, min: number): void {
    if (this.head + this.size === this.starts.length) {
      this.starts.copyWithin(0, this.head, this.head + this.size);
      this.minima.copyWithin(0, this.head, this.head + this.size);
      this.head = 0;
    }
    this.starts[this.head + this.size] = startMs;
    this.minima[this.head + this.size] = min;
    if (this.size < this.capacity) this.size++;
    else this.head++;
  }

  clear(): void {
    this.head = 0;
    this.size = 0;
  }

  get length(): number {
    return this.size;
  }

  /** The buckets that start at or after `sinceMs`, oldest first (views, valid until the next push). */
  since(sinceMs: number): { startMs: Float64Array; min: Float64Array } {
    let lo = this.head;
    let hi = this.head + this.size;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.starts[mid] < sinceMs) lo = mid + 1;
      else hi = mid;
    }
    const end = this.head + this.size;
    return { startMs: this.starts.subarray(lo, end), min: this.minima.subarray(lo, end) };
  }
}
