import type { PageRun } from './dirty-tracker';

/** A set of page numbers as a bitmap, for the pages a joining standby still needs. */
export class PageSet {
  private bits: Uint32Array;
  private count = 0;
  constructor(readonly pages: number) {
    this.bits = new Uint32Array(Math.ceil(pages / 32));
  }
  static all(pages: number): PageSet {
    const s = new PageSet(pages);
    s.addRun(0, pages);
    return s;
  }
  get size(): number {
    return this.count;
  }
  has(p: number): boolean {
    return (this.bits[p >>> 5]! & (1 << (p & 31))) !== 0;
  }
  /** True when any page of the runs is in the set. */
  hasAnyOf(runs: PageRun[]): boolean {
    for (const r of runs) for (let p = r.first; p < r.first + r.count; p++) if (this.has(p)) return true;
    return false;
  }
  add(p: number): void {
    const w = p >>> 5;
    const m = 1 << (p & 31);
    if (!(this.bits[w]! & m)) {
      this.bits[w]! |= m;
      this.count++;
    }
  }
  addRun(first: number, count: number): void {
    for (let p = first; p < first + count; p++) this.add(p);
  }
  addRuns(runs: PageRun[]): void {
    for (const r of runs) this.addRun(r.first, r.count);
  }
  /** Removes and returns up to `limit` pages, lowest first, as runs. */
  take(limit: number): PageRun[] {
    const runs: PageRun[] = [];
    let taken = 0;
    for (let w = 0; w < this.bits.length && taken < limit; w++) {
      while (this.bits[w] !== 0 && taken < limit) {
        const b = 31 - Math.clz32(this.bits[w]! & -this.bits[w]!);
        this.bits[w]! &= ~(1 << b);
        this.count--;
        taken++;
        const p = w * 32 + b;
        const last = runs[runs.length - 1];
        if (last && last.first + last.count === p) last.count++;
        else runs.push({ first: p, count: 1 });
      }
    }
    return runs;
  }
}

export function runsToIndexes(runs: PageRun[]): Uint32Array {
  const n = runs.reduce((k, r) => k + r.count, 0);
  const out = new Uint32Array(n);
  let i = 0;
  for (const r of runs) for (let p = r.first; p < r.first + r.count; p++) out[i++] = p;
  return out;
}

export function runPageCount(runs: PageRun[]): number {
  return runs.reduce((n, r) => n + r.count, 0);
}

/** Copies the pages of `runs` out of `region` into one compact buffer, in run order (one copy per run). */
export function gatherRuns(region: Buffer, runs: PageRun[], pageSize: number): Buffer {
  const out = Buffer.allocUnsafe(runPageCount(runs) * pageSize);
  gatherRunsInto(region, runs, pageSize, out);
  return out;
}

/** gatherRuns into a buffer the caller provides (at least the runs' bytes long). */
export function gatherRunsInto(region: Buffer, runs: PageRun[], pageSize: number, out: Buffer): void {
  let at = 0;
  for (const r of runs) at += region.copy(out, at, r.first * pageSize, (r.first + r.count) * pageSize);
}

/** The inverse of gatherRuns: writes compact pages back to their places. */
export function scatterRuns(compact: Buffer, runs: PageRun[], region: Buffer, pageSize: number): void {
  let at = 0;
  for (const r of runs) {
    compact.copy(region, r.first * pageSize, at, at + r.count * pageSize);
    at += r.count * pageSize;
  }
}
