import { setTimeout as sleep } from 'node:timers/promises';
import { SalvorError } from '../../bindings/salvor-error';
import { connectionCause, ReconnectBackoff } from './reconnect-backoff';
import type { Frame, Link } from '../transport/link';
import { decodeMessage, encodeMessage, Msg, type Ack, type EpochEnd, type Hello, type PagesHeader, type Welcome } from './protocol';
import type { ReplicaStore } from './replica-store';
import type { ReplicationEvent } from './primary';
import type { HeartbeatLink } from './heartbeat-link';

export interface StandbyOptions {
  /** Makes a link to the primary (called again after a loss). */
  connect: () => Promise<Link>;
  replica: ReplicaStore;
  identity: string;
  intervalMs?: number;
  timeoutMs?: number;
  emit: (e: ReplicationEvent) => void;
  /** Further links to the primary that carry heartbeats only: while any of them hears it, no promotion. */
  heartbeatLinks?: HeartbeatLink[];
}

/** Handshakes refused in a row before a standby gives up: one may be a primary dying mid-handshake, three are a wrong key. */
const AUTH_REFUSALS_TO_GIVE_UP = 3;

/**
 * The standby side: hello (with the replica's page fingerprints when it holds a whole state, for a
 * partial resync), then apply what the primary sends, one atomic commit per epoch, acking each as the
 * pair's ack mode says. When the primary is silent for the timeout and cannot be reached again, a
 * standby whose replica is a whole state returns 'promote' (the caller serves it with a higher term);
 * one still joining keeps trying to reach the primary.
 */
export class Standby {
  private link: Link | undefined;
  private welcome: Welcome | undefined;
  private term = 0n;
  private lastHeard = Date.now();
  private stopped = false;
  private inSync = false;
  private failure: Error | undefined;
  /** A failure no reconnect can fix (the replica cannot be written): run() ends with it. */
  private fatal: Error | undefined;
  /** Join progress: pages received of those the welcome announced (pages written meanwhile come again). */
  private join: { pages: number; of: number; reportedAt: number } | undefined;

  constructor(private readonly o: StandbyOptions) {
    const meta = o.replica.meta;
    if (meta) this.term = BigInt(meta.term);
  }

  get intervalMs(): number {
    return this.o.intervalMs ?? 100;
  }
  get timeoutMs(): number {
    return this.o.timeoutMs ?? 1000;
  }
  /** The highest term this standby has seen (on any link): a promotion must go above it. */
  get highestTerm(): bigint {
    return (this.o.heartbeatLinks ?? []).reduce((t, h) => (h.highestTerm > t ? h.highestTerm : t), this.term);
  }

  /** The URLs the primary said it serves on (undefined until a welcome came). */
  get primaryServes(): string[] | undefined {
    return this.welcome?.serves;
  }

  /** Milliseconds since the primary was last heard on any link. */
  private silentFor(): number {
    const heard = (this.o.heartbeatLinks ?? []).reduce((t, h) => Math.max(t, h.lastHeard), this.lastHeard);
    return Date.now() - heard;
  }

  async run(): Promise<'promote' | 'stopped'> {
    const backoff = new ReconnectBackoff(50, Math.max(1000, this.intervalMs * 4));
    let dataDown = false;
    let refusals = 0;
    while (!this.stopped) {
      try {
        this.link = await this.o.connect();
        refusals = 0;
        dataDown = false;
        this.o.emit({ event: 'link-up', role: 'data', url: this.link.url, peer: this.link.peer });
        const connectedAt = Date.now();
        const why = await this.session(this.link);
        if (why === 'stopped') return 'stopped';
        // Only a link that held for a while starts the backoff afresh: one that breaks at once is retried ever later.
        if (Date.now() - connectedAt >= this.timeoutMs) backoff.reset();
      } catch (err) {
        this.failure = err as Error;
      }
      await this.o.replica.abortEpoch();
      this.inSync = false;
      if (this.stopped) return 'stopped';
      // The replica cannot be written: no retry fixes that, and each one costs the primary a join.
      if (this.fatal) throw this.fatal;
      refusals = (this.failure as SalvorError | undefined)?.code === 'SALVOR_AUTH' ? refusals + 1 : 0;
      if (refusals >= AUTH_REFUSALS_TO_GIVE_UP)
        throw new SalvorError('SALVOR_AUTH', `the primary refused this node's key or certificate ${refusals} times in a row (${this.failure!.message})`);
      const silentFor = this.silentFor();
      const promotable = !!(this.o.replica.meta?.synced && this.welcome);
      // Only a loss promotes: a standby that has not reached a primary since it started (the primary still
      // booting) keeps trying rather than become a second primary. A primary still heard on a heartbeat
      // link is alive: its data path broke, and the standby keeps reconnecting.
      if (promotable && silentFor >= this.timeoutMs) return 'promote';
      if (!dataDown && this.welcome && Date.now() - this.lastHeard >= this.timeoutMs && silentFor < this.timeoutMs) {
        dataDown = true;
        this.o.emit({ event: 'link-down', role: 'data', reason: this.failure?.message ?? 'closed', primaryHeardMsAgo: silentFor });
      }
      // A standby that could promote wakes when the primary's timeout runs out, to decide.
      let waitMs = backoff.next();
      if (promotable) waitMs = Math.min(waitMs, Math.max(1, this.timeoutMs - silentFor));
      if (this.failure) this.o.emit({ event: 'primary-unreachable', cause: connectionCause(this.failure), reason: this.failure.message, silentMs: silentFor, retryInMs: waitMs });
      this.failure = undefined;
      await sleep(waitMs);
    }
    return 'stopped';
  }

  /** An error of the replica's file (or its journal or meta): an I/O failure, not the link's. */
  private isReplicaError(err: unknown): boolean {
    const path = (err as { path?: unknown }).path;
    return typeof path === 'string' && path.startsWith(this.o.replica.path) && (err as { code?: string }).code !== 'SALVOR_BAD_FRAME';
  }

  /** One connection's life; resolves when the link closes. */
  private session(link: Link): Promise<'lost' | 'stopped'> {
    return new Promise((resolve) => {
      const heartbeat = setInterval(() => {
        if (Date.now() - this.lastHeard > this.timeoutMs) void link.close();
        else void link.send(Msg.heartbeat, encodeMessage({ epoch: this.o.replica.meta?.epoch ?? 0 }), this.term).catch(() => undefined);
      }, this.intervalMs);
      let queue = Promise.resolve();
      link.onFrame((f) => {
        this.lastHeard = Date.now();
        queue = queue.then(() => this.onFrame(link, f)).catch((err: Error) => {
          this.failure = err;
          if (this.isReplicaError(err)) this.fatal ??= err;
          void link.close();
        });
      });
      link.onClose((err) => {
        clearInterval(heartbeat);
        if (err) this.failure ??= err;
        void queue.finally(() => resolve(this.stopped ? 'stopped' : 'lost'));
      });
      void this.hello(link).catch((err: Error) => {
        this.failure = err;
        if (this.isReplicaError(err)) this.fatal ??= err;
        void link.close();
      });
    });
  }

  private async hello(link: Link): Promise<void> {
    const r = this.o.replica;
    const meta = r.meta;
    if (meta && !r.prepared) await r.prepare(meta.regionSize, meta.pageSize);
    const withHashes = !!meta?.synced;
    const hello: Hello = {
      identity: this.o.identity,
      capabilities: ['page-delta-v1', 'partial-resync'],
      heldEpoch: meta?.epoch ?? 0,
      heldTerm: this.term.toString(),
      regionSize: meta?.regionSize ?? 0,
      pageSize: meta?.pageSize ?? 0,
      hashes: withHashes,
    };
    await link.send(Msg.hello, encodeMessage(hello, withHashes ? r.pageHashes() : undefined), this.term);
  }

  private async onFrame(link: Link, f: Frame): Promise<void> {
    if (f.epoch > this.term) this.term = f.epoch;
    const r = this.o.replica;
    if (f.type === Msg.welcome) {
      const w = decodeMessage<Welcome>(f.payload).header;
      this.welcome = w;
      this.join = { pages: 0, of: w.pagesToSend, reportedAt: Date.now() };
      if (!r.prepared || r.meta?.regionSize !== w.regionSize || r.meta?.pageSize !== w.pageSize) await r.prepare(w.regionSize, w.pageSize);
      this.o.emit({ event: 'joined', primary: w.primary, term: w.term, plan: w.plan, pagesToSend: w.pagesToSend, peer: link.peer });
    } else if (f.type === Msg.pages) {
      const { header, tail } = decodeMessage<PagesHeader>(f.payload);
      if (header.raw) {
        await r.applyRaw(header.runs, tail);
        this.joinProgress(header.runs.reduce((n, run) => n + run.count, 0));
      }
      else await r.applyPages(header.runs, tail);
    } else if (f.type === Msg.epochEnd) {
      await this.onEpochEnd(link, decodeMessage<EpochEnd>(f.payload).header);
    }
  }

  private async onEpochEnd(link: Link, e: EpochEnd): Promise<void> {
    const w = this.welcome!;
    const mode = w.ackMode;
    // An ack that cannot go out (the primary just died) does not undo the epoch: it was committed whole.
    const ack = (level: Ack['level']) =>
      link.send(Msg.ack, encodeMessage({ epoch: e.epoch, level }), this.term).then(
        () => true,
        () => false,
      );
    let acked = false;
    if (!e.joining && mode === 'received') acked = await ack('received');
    await this.o.replica.commitEpoch({
      epoch: e.epoch,
      term: this.term.toString(),
      primary: w.primary,
      digest: e.joining ? undefined : e.digest, // while joining the replica is not a whole state: nothing to compare
      synced: !e.joining,
      persist: mode === 'persisted',
    });
    if (e.joining) return;
    if (mode === 'persisted') acked = await ack('persisted');
    if (!this.inSync) {
      this.inSync = true;
      // The primary calls the standby in sync only once it holds a whole state: tell it this one is committed.
      if (mode !== 'persisted') await ack('committed');
      if (this.join) this.o.emit({ event: 'progress', pages: this.join.pages, of: Math.max(this.join.of, this.join.pages) });
      this.join = undefined;
      this.o.emit({ event: 'in-sync', epoch: e.epoch, term: this.term.toString() });
    }
    this.o.emit({ event: 'epoch', epoch: e.epoch, committed: true, acked, level: mode });
  }

  /** At most one `progress` event a second while joining. */
  private joinProgress(pages: number): void {
    const j = this.join;
    if (!j) return;
    j.pages += pages;
    if (Date.now() - j.reportedAt < 1000) return;
    j.reportedAt = Date.now();
    this.o.emit({ event: 'progress', pages: j.pages, of: Math.max(j.of, j.pages) });
  }

  status(): Record<string, unknown> {
    const m = this.o.replica.meta;
    return { role: 'standby', term: this.term.toString(), epoch: m?.epoch ?? 0, synced: m?.synced ?? false, inSync: this.inSync, primary: this.welcome?.primary ?? null, links: (this.o.heartbeatLinks ?? []).map((h) => h.status()) };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.link?.close();
  }
}
