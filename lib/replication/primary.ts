import { constants as bufferConstants } from 'node:buffer';
import { hashPages } from '../../bindings/hash-scan';
import { SalvorError } from '../../bindings/salvor-error';
import { encodePageDeltas } from '../../bindings/page-delta';
import type { Link, Listener } from '../transport/link';
import type { TrackedRegion } from './tracked-region';
import { gatherRuns, scatterRuns } from './page-sets';
import type { AckMode } from './protocol';
import { regionDigest } from './replica-store';
import { StandbySession } from './standby-session';

export type ReplicationEvent = Record<string, unknown> & { event: string };

export interface PrimaryOptions {
  region: TrackedRegion;
  listener: Listener;
  identity: string;
  term: bigint;
  /** The epoch to continue from (a promoted standby continues its replica's numbering). */
  startEpoch?: number;
  /**
   * A promoted node: it gives the address up to a node of the same term whose replica holds a later
   * epoch than the one it started from (two standbys promoted at once: the more complete one wins).
   */
  yieldToLaterEpoch?: boolean;
  ackMode: AckMode;
  /** The URLs the listener serves on, told to standbys in the welcome. */
  serves?: string[];
  intervalMs?: number;
  maxDowntimeMs?: number;
  maxRounds?: number;
  timeoutMs?: number;
  emit: (e: ReplicationEvent) => void;
  /**
   * For an in-process region whose writer the application can slow down (auto-converge): when a
   * join's rounds stop shrinking, called with the fraction of its time the writer should pause, growing
   * (0.2, then +0.1 per stalled round, up to 0.99) while they stay stalled; called with 0 once no join
   * needs it (in sync, abandoned or gone). With several joins at once the writer gets the largest
   * fraction any of them asks. Without it a stalled join is abandoned after maxRounds (not-converging).
   */
  throttle?: (pauseFraction: number) => void;
}

/**
 * The primary side of replication. Every interval it collects the pages written since the previous
 * epoch (one collectPages per epoch, whatever the number of standbys), folds them into the epoch
 * state it ships (a private copy, so joins and deltas never race with writers), sends the epoch as a
 * page delta stream to every standby in sync, and adds the pages to what each joining standby still
 * needs. A joining standby gets the state page by page, back to back between epochs, until what
 * remains fits the downtime bound; then the rest goes at once and the standby is in sync at that epoch.
 */
export class Primary {
  readonly pageSize: number;
  readonly pages: number;
  /** The state as of the last epoch: what standbys in sync hold. */
  readonly state: Buffer;
  private readonly hashes: Buffer;
  epoch: number;
  private digest: string;
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> = Promise.resolve();
  private readonly sessions = new Set<StandbySession>();
  private stopped = false;
  /** When each recent epoch was cut, for the replication lag its acks report. */
  private readonly cutAt = new Map<number, number>();
  /** The writer pause each joining standby asks for, and the one the writer was last given. */
  private readonly pauses = new Map<StandbySession, number>();
  private pauseNow = 0;
  private resolveDone!: (why: 'stopped' | 'demoted') => void;
  readonly done = new Promise<'stopped' | 'demoted'>((r) => (this.resolveDone = r));

  private constructor(
    readonly options: PrimaryOptions,
    state: Buffer,
  ) {
    this.pageSize = options.region.pageSize;
    this.pages = options.region.size / this.pageSize;
    this.state = state;
    this.hashes = Buffer.alloc(this.pages * 8);
    hashPages(this.state, this.pageSize, this.hashes);
    this.digest = regionDigest(this.hashes);
    this.epoch = options.startEpoch ?? 0;
  }

  /** Takes the construction-start state (every page, copied through the tracker) and starts serving. */
  static async start(options: PrimaryOptions): Promise<Primary> {
    let state: Buffer;
    try {
      const { region } = options;
      if (region.size > bufferConstants.MAX_LENGTH)
        throw new SalvorError(
          'SALVOR_TOO_LARGE',
          `the region holds ${region.size} bytes; a primary keeps the state it ships in one Buffer, at most ${bufferConstants.MAX_LENGTH} bytes on this Node`,
        );
      await region.collectPages(); // re-arms: writes from here on are in the first epoch
      state = await region.copyPages([{ first: 0, count: region.size / region.pageSize }]);
    } catch (err) {
      await options.listener.close(); // the primary owns the listener from here: nothing is left serving
      throw err;
    }
    const p = new Primary(options, state);
    options.listener.onLink((link) => p.accept(link));
    p.schedule();
    return p;
  }

  get term(): bigint {
    return this.options.term;
  }
  get ackMode(): AckMode {
    return this.options.ackMode;
  }
  get intervalMs(): number {
    return this.options.intervalMs ?? 100;
  }
  get timeoutMs(): number {
    return this.options.timeoutMs ?? 1000;
  }
  emit(e: ReplicationEvent): void {
    this.options.emit(e);
  }

  /** Epochs at a fixed rate: the next one is due an interval after the previous one started. */
  private schedule(lastStart = Date.now()): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      const started = Date.now();
      this.ticking = this.tick()
        .catch((err: Error) => this.emit({ event: 'error', message: err.message }))
        .finally(() => this.schedule(started));
    }, Math.max(0, lastStart + this.intervalMs - Date.now()));
  }

  /** One epoch: collect, fold into the shipped state, send to standbys in sync, feed joining ones. */
  private async tick(): Promise<void> {
    const tickStarted = Date.now();
    const { runs, pages } = await this.options.region.collectPages();
    const before = gatherRuns(this.state, runs, this.pageSize);
    const stream = encodePageDeltas(before, pages, this.pageSize);
    scatterRuns(pages, runs, this.state, this.pageSize);
    for (const r of runs)
      hashPages(this.state.subarray(r.first * this.pageSize, (r.first + r.count) * this.pageSize), this.pageSize, this.hashes.subarray(r.first * 8, (r.first + r.count) * 8));
    this.epoch++;
    this.cutAt.set(this.epoch, tickStarted);
    this.cutAt.delete(this.epoch - 100);
    this.digest = regionDigest(this.hashes);
    for (const s of this.sessions) await s.onEpoch(this.epoch, runs, stream, this.digest);
  }

  /** Whether a stalled join can slow the writer down (options.throttle given). */
  get canThrottle(): boolean {
    return this.options.throttle !== undefined;
  }

  /** A joining standby asks for a writer pause (0: it needs none any more); the writer gets the largest asked. */
  setPause(session: StandbySession, fraction: number): void {
    if (fraction > 0) this.pauses.set(session, fraction);
    else this.pauses.delete(session);
    const next = Math.max(0, ...this.pauses.values());
    if (next === this.pauseNow || !this.options.throttle) return;
    this.pauseNow = next;
    this.emit({ event: 'throttle', pauseFraction: next, standby: session.identityName });
    try {
      this.options.throttle(next);
    } catch (err) {
      this.emit({ event: 'error', message: `throttle(${next}) threw: ${(err as Error).message}` });
    }
  }

  /** Milliseconds from the cut of `epoch` until now (undefined once it is old). */
  lagOf(epoch: number): number | undefined {
    const at = this.cutAt.get(epoch);
    return at === undefined ? undefined : Date.now() - at;
  }

  /** Page fingerprints of the shipped state (for a rejoining standby's partial resync). */
  stateHashes(): Buffer {
    return this.hashes;
  }
  get currentDigest(): string {
    return this.digest;
  }

  private accept(link: Link): void {
    if (this.stopped) {
      void link.close();
      return;
    }
    const session = new StandbySession(this, link);
    this.sessions.add(session);
    link.onClose(() => this.sessions.delete(session));
  }

  /** A peer announced a higher term (or, same term, a later epoch): another node is primary now. */
  demote(term: bigint, by: string, reason = 'a peer has a higher term'): void {
    if (this.stopped) return;
    this.emit({ event: 'demoted', term: term.toString(), by, epoch: this.epoch, reason });
    void this.stop('demoted');
  }

  status(): Record<string, unknown> {
    return {
      role: 'primary',
      term: this.term.toString(),
      epoch: this.epoch,
      digest: this.digest,
      tracker: this.options.region.backend,
      standbys: [...this.sessions].map((s) => s.status()),
    };
  }

  async stop(why: 'stopped' | 'demoted' = 'stopped'): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.timer);
    await this.ticking.catch(() => undefined);
    for (const s of this.sessions) await s.close();
    await this.options.listener.close();
    this.resolveDone(why);
  }
}
