import { debuglog } from 'node:util';
import { SalvorError } from '../../bindings/salvor-error';
import { mergeRuns, runPages, type BackendChoice, type PageRun, type TrackedMemory, type TrackerCosts, type TrackerKind } from './dirty-tracker';
import { decide, type Decision } from './tracker-policy';

const debug = debuglog('salvor');

/** Fault-based kinds auto considers, best first. Soft-dirty has no atomic read-and-clear, so auto never picks it. */
const AUTO_FAULT_KINDS: TrackerKind[] = ['uffd-wp', 'mprotect'];

export interface TrackerDecisionEvent extends Decision {
  region: string;
  round: number;
  from: TrackerKind;
  switched: boolean;
}

export interface TrackedRegionOptions {
  backend: BackendChoice;
  costs: TrackerCosts;
  /** The fault-based kinds auto may start with, best first: the machine probe's choice (default: try each). */
  faultKinds?: TrackerKind[];
  /** Called on every auto decision that switches, and on the first one (also printed with NODE_DEBUG=salvor). */
  onDecision?: (event: TrackerDecisionEvent) => void;
}

/** The median of the last few samples: one slow round (a busy machine, a cold page table) does not move it. */
class RecentMedian {
  private samples: number[] = [];
  add(v: number): void {
    this.samples.push(v);
    if (this.samples.length > 7) this.samples.shift();
  }
  get value(): number | undefined {
    if (!this.samples.length) return undefined;
    const sorted = [...this.samples].sort((a, b) => a - b);
    return sorted[sorted.length >> 1];
  }
}

/**
 * A region whose written pages are collected round by round. `collect()` resolves to the pages written
 * since the previous collect (or since open) and re-arms in the same step; calls are serialised.
 */
export class TrackedRegion {
  private current: TrackerKind;
  private faultKind: TrackerKind | undefined;
  private rounds = 0;
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;
  private readonly hashNsPerByte = new RecentMedian();
  private readonly faultScanNsPerByte = new RecentMedian();
  private readonly faultScanNsPerPage = new RecentMedian();
  /** The first round after a tracker is armed walks cold page tables: not a fair sample. */
  private warm = false;
  /** A tracker the caller chose with setBackend(); auto decides again once it is 'auto'. */
  private pinned: TrackerKind | undefined;
  /** Pages a switch outside a round found written: the next round reports them. */
  private carried: PageRun[] = [];
  readonly decisions: TrackerDecisionEvent[] = [];

  private constructor(
    private readonly memory: TrackedMemory,
    private readonly options: TrackedRegionOptions,
  ) {
    this.current = 'hash';
  }

  /** Attaches and arms the chosen tracker (for auto: a fault-based one when the region allows, else hash). */
  static async open(memory: TrackedMemory, options: TrackedRegionOptions): Promise<TrackedRegion> {
    const region = new TrackedRegion(memory, options);
    try {
      await region.start();
    } catch (err) {
      memory.close();
      throw err;
    }
    return region;
  }

  private async start(): Promise<void> {
    const { backend } = this.options;
    if (backend !== 'auto') {
      this.memory.attach(backend);
      this.current = backend;
    } else if (this.memory.shared) {
      this.memory.attach('hash');
      this.record({ kind: 'hash', reason: 'a shared file other processes may write: only the hash scan sees their writes', predictedNs: {} }, 'hash');
    } else {
      const refusals: string[] = [];
      for (const kind of this.options.faultKinds ?? AUTO_FAULT_KINDS) {
        try {
          this.memory.attach(kind);
          this.faultKind = kind;
          break;
        } catch (err) {
          refusals.push(`${kind}: ${(err as Error).message}`);
        }
      }
      this.current = this.faultKind ?? 'hash';
      if (!this.faultKind) this.memory.attach('hash');
      const reason = this.faultKind
        ? `${this.faultKind} first: nothing is written yet, and a write fault costs ${this.options.costs.writeFaultNs[this.faultKind]?.toFixed(0) ?? '?'} ns`
        : `no fault-based tracker here (${refusals.join('; ')})`;
      this.record({ kind: this.current, reason, predictedNs: {} }, this.current);
    }
    await this.memory.arm(this.current);
  }

  get backend(): TrackerKind {
    return this.current;
  }
  /** The whole region as one Buffer. Past Node's Buffer limit (4 GiB on Node 20) this throws SALVOR_TOO_LARGE: use window(). */
  get buffer(): Buffer {
    return this.memory.buffer();
  }
  /** Bytes [offset, offset + length) of the region, sharing its memory (length at most the Buffer limit). */
  window(offset: number, length: number): Buffer {
    return this.memory.window(offset, length);
  }
  get size(): number {
    return this.memory.size;
  }
  get pageSize(): number {
    return this.memory.pageSize;
  }

  /**
   * The pages written since the previous round, re-arming in the same step. The caller copies them
   * from `buffer`; with the hash tracker, prefer collectPages(), whose copy is what the tracker
   * remembers (a page that changes and then changes back after a plain copy would go unseen).
   */
  collect(): Promise<PageRun[]> {
    return this.serialised(() => this.collectRound());
  }

  /** collect() and a copy of the reported pages (in run order) taken with it: what replication ships. */
  collectPages(): Promise<{ runs: PageRun[]; pages: Buffer }> {
    return this.serialised(async () => {
      const runs = await this.collectRound();
      return { runs, pages: await this.memory.stage(runs) };
    });
  }

  /** Copies pages out (serialised with rounds); a content-comparing tracker remembers the copy. */
  copyPages(runs: PageRun[]): Promise<Buffer> {
    return this.serialised(() => this.memory.stage(runs));
  }

  /**
   * Moves tracking to `kind` now (pinning it) or back to 'auto', between rounds and without losing a
   * write: the pages written meanwhile are reported by the next collect().
   */
  setBackend(kind: BackendChoice): Promise<void> {
    return this.serialised(async () => {
      const from = this.current;
      if (kind !== 'auto' && kind !== from) this.carried = mergeRuns(this.carried, await this.switchTo(kind, []));
      this.pinned = kind === 'auto' ? undefined : kind;
      if (kind !== 'auto' && kind !== from) this.record({ kind, reason: 'set by the caller', predictedNs: {} }, from);
    });
  }

  private serialised<T>(round: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new SalvorError('SALVOR_CLOSED', `region ${this.memory.label} is closed`));
    const next = this.queue.then(round);
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async collectRound(): Promise<PageRun[]> {
    const kind = this.current;
    const started = process.hrtime.bigint();
    let runs = await this.memory.collect(kind);
    if (this.carried.length) {
      runs = mergeRuns(this.carried, runs);
      this.carried = [];
    }
    const ns = Number(process.hrtime.bigint() - started);
    this.rounds++;
    this.learnCost(kind, ns, runPages(runs));
    if (this.options.backend === 'auto' && !this.pinned && this.faultKind) {
      const d = decide({
        regionBytes: this.memory.size,
        dirtyPages: runPages(runs),
        faultKind: this.faultKind,
        writeFaultNs: this.options.costs.writeFaultNs[this.faultKind],
        faultScanNsPerByte: this.faultScanNsPerByte.value ?? 0,
        faultScanNsPerPage: this.faultScanNsPerPage.value ?? 0,
        hashNsPerByte: this.hashNsPerByte.value ?? this.options.costs.hashNsPerByte,
        current: kind,
      });
      if (d.kind !== kind) {
        runs = await this.switchTo(d.kind, runs);
        this.record(d, kind);
      }
    }
    return runs;
  }

  /**
   * Learns what rounds cost here. A hash round costs the region size over its throughput. A fault
   * tracker's collect has a fixed part (walking the region; learnt from rounds with almost nothing
   * written) and a part per written page (reporting and re-protecting it; learnt from the others).
   */
  private learnCost(kind: TrackerKind, ns: number, dirty: number): void {
    const size = this.memory.size;
    if (!this.warm) {
      this.warm = true;
      return;
    }
    if (kind === 'hash') this.hashNsPerByte.add(ns / size);
    else if (dirty <= size / this.memory.pageSize / 1000 || this.faultScanNsPerByte.value === undefined) this.faultScanNsPerByte.add(ns / size);
    else this.faultScanNsPerPage.add(Math.max(0, ns - this.faultScanNsPerByte.value * size) / dirty);
  }

  /**
   * Hands tracking to another kind without losing a write. To hash: arm the hash baseline, then
   * collect the old tracker once more, so writes made while the baseline was read are reported now.
   * From hash: arm the fault tracker first, then collect the hash, which reports everything up to then.
   */
  private async switchTo(next: TrackerKind, runs: PageRun[]): Promise<PageRun[]> {
    const prev = this.current;
    this.memory.attach(next);
    await this.memory.arm(next);
    const more = await this.memory.collect(prev);
    this.memory.detach(prev);
    this.current = next;
    this.warm = false;
    return mergeRuns(runs, more);
  }

  private record(d: Decision, from: TrackerKind): void {
    const event: TrackerDecisionEvent = { ...d, region: this.memory.label, round: this.rounds, from, switched: from !== d.kind };
    this.decisions.push(event);
    if (this.decisions.length > 100) this.decisions.shift();
    debug('tracker %s round %d: %s -> %s: %s', event.region, event.round, from, d.kind, d.reason);
    this.options.onDecision?.(event);
  }

  /** Idempotent. A collect in flight rejects with SALVOR_CLOSED; region.buffer then reads zeros. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.memory.close();
  }
}
