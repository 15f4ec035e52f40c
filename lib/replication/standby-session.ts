import type { Frame, Link } from '../transport/link';
import type { PageRun } from './dirty-tracker';
import { gatherRunsInto, PageSet, runPageCount } from './page-sets';
import { decodeMessage, encodeMessage, encodeMessageAround, Msg, type Ack, type EpochEnd, type Hello, type PagesHeader, type Welcome } from './protocol';
import type { Primary } from './primary';

/** Pages per message while joining: 4 MiB of 4 KiB pages. */
const JOIN_CHUNK = 1024;
/** A join asks the writer to pause (auto-converge) after this many rounds in a row that did not shrink. */
const THROTTLE_AFTER_ROUNDS = 2;
/** Auto-converge steps: first pause, increment per further stall, and the most it asks. */
const PAUSE_FIRST = 0.2;
const PAUSE_STEP = 0.1;
const PAUSE_MAX = 0.99;
/** Room for one join message: the pages and a JSON header of up to 64 KiB (JOIN_CHUNK single-page runs). */
const JOIN_MESSAGE_BYTES = JOIN_CHUNK * 4096 + 64 * 1024;

/**
 * One standby as the primary sees it: hello, then the join (every page it lacks, sent
 * back to back between epochs, until the rest fits the downtime bound), then every epoch as a delta stream. A standby
 * silent for the timeout is dropped; the primary never waits on it longer than that.
 */
export class StandbySession {
  private phase: 'hello' | 'joining' | 'synced' | 'heartbeat' | 'closed' = 'hello';
  private needed: PageSet | undefined;
  private identity = 'unknown';
  private round = 0;
  private bestRemaining = Infinity;
  private stalled = 0;
  /** The writer pause this join asks for (0: none). */
  private pause = 0;
  /** Join bandwidth: bytes the pump sent over the time its sends took. */
  private totalBytes = 0;
  private sendMs = 0;
  private roundBytes = 0;
  private finishing = false;
  private wakePump: (() => void) | undefined;
  private lastHeard = Date.now();
  private readonly watchdog: NodeJS.Timeout;
  private beat: NodeJS.Timeout | undefined;
  private ackedEpoch = 0;
  /** The epoch whose end completed the join, and whether the standby has said it committed it (in sync). */
  private syncEpoch = 0;
  private confirmed = false;
  /** The buffer join messages are built in, reused from one to the next (absent while a send holds it). */
  private joinMessage: Buffer | undefined;

  constructor(
    private readonly primary: Primary,
    private readonly link: Link,
  ) {
    link.onFrame((f) => this.onFrame(f));
    link.onClose((err) => this.onLinkClosed(err));
    this.watchdog = setInterval(() => {
      if (Date.now() - this.lastHeard > primary.timeoutMs) {
        const heartbeatOnly = this.phase === 'heartbeat';
        primary.emit({ event: heartbeatOnly ? 'link-down' : 'standby-lost', standby: this.identity, reason: `silent for ${primary.timeoutMs} ms`, epoch: primary.epoch, ...(heartbeatOnly ? { url: link.url, role: 'heartbeat' } : {}) });
        void this.close();
      }
    }, Math.max(20, primary.intervalMs));
  }

  private send(type: number, header: object, tail?: Buffer): Promise<void> {
    return this.link.send(type, encodeMessage(header, tail), this.primary.term);
  }

  private onFrame(f: Frame): void {
    this.lastHeard = Date.now();
    if (f.epoch > this.primary.term) {
      this.primary.demote(f.epoch, this.link.peer);
      return;
    }
    try {
      if (f.type === Msg.hello) void this.onHello(decodeMessage<Hello>(f.payload)).catch((e) => this.fail(e));
      else if (f.type === Msg.ack) this.onAck(decodeMessage<Ack>(f.payload).header);
    } catch (err) {
      this.fail(err as Error);
    }
  }

  private async onHello({ header: h, tail }: { header: Hello; tail: Buffer }): Promise<void> {
    const p = this.primary;
    this.identity = h.identity;
    if (h.capabilities.includes('term-probe')) {
      // Another node asking who serves here and with which term (the frame's epoch field answers).
      const baseEpoch = p.options.startEpoch ?? 0;
      await this.send(Msg.welcome, { primary: p.options.identity, term: p.term.toString(), regionSize: 0, pageSize: 0, ackMode: p.ackMode, plan: 'full', pagesToSend: 0, baseEpoch } satisfies Welcome);
      if (p.options.yieldToLaterEpoch && h.heldTerm === p.term.toString() && h.heldEpoch > baseEpoch)
        p.demote(p.term, h.identity, `a node of the same term holds epoch ${h.heldEpoch}, later than the ${baseEpoch} this one started from`);
      return;
    }
    if (h.capabilities.includes('heartbeat-only')) {
      // A standby's extra link (serial beside TCP, say): heartbeats with our term and epoch, nothing else.
      this.phase = 'heartbeat';
      const beat = () => void this.send(Msg.heartbeat, { epoch: p.epoch }).catch(() => undefined);
      this.beat = setInterval(beat, p.intervalMs);
      beat();
      p.emit({ event: 'link-up', standby: h.identity, peer: this.link.peer, url: this.link.url, role: 'heartbeat' });
      return;
    }
    if (h.regionSize !== p.pages * p.pageSize || h.pageSize !== p.pageSize) {
      if (h.regionSize !== 0) p.emit({ event: 'resync', standby: h.identity, reason: `its replica is ${h.regionSize} bytes, the region ${p.pages * p.pageSize}` });
    }
    let plan: Welcome['plan'] = 'full';
    this.needed = PageSet.all(p.pages);
    if (h.hashes && tail.length === p.pages * 8 && h.regionSize === p.pages * p.pageSize) {
      // A rejoining standby: only the pages whose fingerprint differs from the shipped state.
      plan = 'partial';
      this.needed = new PageSet(p.pages);
      const mine = p.stateHashes();
      for (let i = 0; i < p.pages; i++) if (mine.readBigUInt64LE(i * 8) !== tail.readBigUInt64LE(i * 8)) this.needed.add(i);
    }
    const welcome: Welcome = { primary: p.options.identity, term: p.term.toString(), regionSize: p.pages * p.pageSize, pageSize: p.pageSize, ackMode: p.ackMode, plan, pagesToSend: this.needed.size, serves: p.options.serves };
    await this.send(Msg.welcome, welcome);
    p.emit({ event: 'link-up', role: 'data', standby: h.identity, peer: this.link.peer, url: this.link.url });
    this.phase = 'joining';
    p.emit({ event: 'joined', standby: h.identity, peer: this.link.peer, plan, pagesToSend: this.needed.size, heldEpoch: h.heldEpoch });
    void this.pump().catch((e: Error) => this.fail(e));
  }

  private onAck(a: Ack): void {
    if (this.phase !== 'synced') return;
    if (!this.confirmed && (a.level === 'committed' || a.level === 'persisted') && a.epoch >= this.syncEpoch) {
      // The standby committed the epoch that made its replica whole: now, not when the last round left, it is in sync.
      this.confirmed = true;
      this.primary.emit({ event: 'in-sync', epoch: a.epoch, standby: this.identity, rounds: this.round });
    }
    if (a.level === 'committed' || a.epoch <= this.ackedEpoch) return;
    this.ackedEpoch = a.epoch;
    this.primary.emit({ event: 'epoch', epoch: a.epoch, acked: true, level: a.level, standby: this.identity, lagMs: this.primary.lagOf(a.epoch) });
  }

  /** Called by the primary once per epoch, in order, with the epoch's pages as a delta stream. */
  async onEpoch(epoch: number, runs: PageRun[], stream: Buffer, digest: string): Promise<void> {
    if (this.phase === 'synced') {
      await this.send(Msg.pages, { round: epoch, count: runs.length, runs, raw: false } satisfies PagesHeader, stream);
      await this.send(Msg.epochEnd, { epoch, digest, joining: false } satisfies EpochEnd);
      if (this.primary.ackMode === 'async') this.primary.emit({ event: 'epoch', epoch, acked: false, standby: this.identity });
    } else if (this.phase === 'joining') {
      this.needed!.addRuns(runs);
      await this.joinRound(epoch, digest, runs);
    }
  }

  /**
   * Sends the next message of owed pages (whole pages, from the shipped state); returns its bytes. The
   * pages are copied once, from the state straight into the message, which is reused for the next one
   * (a link is done with a payload once send() resolves).
   */
  private async sendOwed(round: number): Promise<number> {
    const p = this.primary;
    const runs = this.needed!.take(JOIN_CHUNK);
    const bytes = runPageCount(runs) * p.pageSize;
    // The pump and an epoch's final round can both be sending: only one of them may use the spare.
    const spare = this.joinMessage ?? Buffer.allocUnsafe(JOIN_MESSAGE_BYTES);
    this.joinMessage = undefined;
    const { message, tail } = encodeMessageAround({ round, count: runs.length, runs, raw: true } satisfies PagesHeader, bytes, spare);
    gatherRunsInto(p.state, runs, p.pageSize, tail);
    try {
      await this.link.send(Msg.pages, message, p.term);
    } finally {
      this.joinMessage = spare;
    }
    this.roundBytes += bytes;
    return bytes;
  }

  /**
   * Sends owed pages back to back between epochs. The shipped state changes only inside an epoch's
   * tick, so every message is a consistent copy of the pages it names; a page changed by a later epoch
   * is owed again and goes again.
   */
  private async pump(): Promise<void> {
    while (this.phase === 'joining') {
      if (this.finishing || this.needed!.size === 0) {
        await new Promise<void>((r) => (this.wakePump = r));
        continue;
      }
      const started = Date.now();
      this.totalBytes += await this.sendOwed(this.round + 1);
      this.sendMs += Date.now() - started;
    }
  }

  /**
   * One join round per epoch. The downtime rule: when what remains can go within the downtime bound at the
   * measured bandwidth, send it all now and finish at this epoch. Rounds that stop shrinking first slow
   * an in-process writer down (when the primary has a throttle), step by step up to PAUSE_MAX; then, or
   * without a throttle, after maxRounds more the join is abandoned, never looped forever.
   */
  private async joinRound(epoch: number, digest: string, dirty: PageRun[]): Promise<void> {
    const p = this.primary;
    this.round++;
    const bytesPerMs = this.sendMs > 0 ? this.totalBytes / this.sendMs : 0;
    const remaining = this.needed!.size * p.pageSize;
    // Nothing (or at most one message) left needs no bandwidth figure: a partial resync that finds every
    // page equal finishes at its first epoch.
    if (remaining <= JOIN_CHUNK * p.pageSize || (bytesPerMs > 0 && remaining <= bytesPerMs * (p.options.maxDowntimeMs ?? 300))) {
      this.finishing = true; // the pump stands aside: the rest goes here, inside this epoch
      while (this.needed!.size > 0) await this.sendOwed(this.round);
    }
    const synced = this.needed!.size === 0 && this.finishing;
    await this.send(Msg.epochEnd, { epoch, digest, joining: !synced } satisfies EpochEnd);
    p.emit({ event: 'round', n: this.round, dirtyPages: dirty.reduce((k, r) => k + r.count, 0), bytes: this.roundBytes, remainingPages: this.needed!.size, standby: this.identity });
    this.roundBytes = 0;
    if (synced) {
      this.phase = 'synced';
      this.syncEpoch = epoch;
      this.releasePause();
      this.wakePump?.();
      return;
    }
    this.wakePump?.();
    if (this.needed!.size < this.bestRemaining) {
      this.bestRemaining = this.needed!.size;
      this.stalled = 0;
      return;
    }
    this.stalled++;
    if (p.canThrottle && this.pause < PAUSE_MAX) {
      // Auto-converge: slow the writer down further, and give the new pause fresh rounds to work.
      if (this.stalled < THROTTLE_AFTER_ROUNDS) return;
      this.pause = this.pause === 0 ? PAUSE_FIRST : Math.min(PAUSE_MAX, Math.round((this.pause + PAUSE_STEP) * 100) / 100);
      this.stalled = 0;
      p.setPause(this, this.pause);
    } else if (this.stalled >= (p.options.maxRounds ?? 30)) {
      p.emit({ event: 'not-converging', standby: this.identity, rounds: this.round, remainingPages: this.needed!.size, pauseFraction: this.pause });
      await this.close();
    }
  }

  /** The join no longer needs the writer slowed (in sync, abandoned or gone). */
  private releasePause(): void {
    if (this.pause === 0) return;
    this.pause = 0;
    this.primary.setPause(this, 0);
  }

  get identityName(): string {
    return this.identity;
  }

  status(): Record<string, unknown> {
    const phase = this.phase === 'synced' && !this.confirmed ? 'committing' : this.phase;
    return { standby: this.identity, peer: this.link.peer, phase, ackedEpoch: this.ackedEpoch, remainingPages: this.needed?.size ?? null };
  }

  private fail(err: Error): void {
    this.primary.emit({ event: 'standby-error', standby: this.identity, message: err.message });
    void this.close();
  }

  private onLinkClosed(err?: Error): void {
    clearInterval(this.watchdog);
    clearInterval(this.beat);
    this.releasePause();
    this.wakePump?.();
    if (this.phase === 'heartbeat') this.primary.emit({ event: 'link-down', standby: this.identity, url: this.link.url, role: 'heartbeat', reason: err?.message ?? 'closed' });
    else if (this.phase !== 'closed') this.primary.emit({ event: 'standby-gone', standby: this.identity, reason: err?.message ?? 'closed' });
    this.phase = 'closed';
  }

  async close(): Promise<void> {
    clearInterval(this.watchdog);
    clearInterval(this.beat);
    this.releasePause();
    this.phase = 'closed';
    this.wakePump?.();
    await this.link.close().catch(() => undefined);
  }
}

