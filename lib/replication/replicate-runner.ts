import type { Link, LinkOptions, Listener, TransportBackend } from '../transport/link';
import { listenerGroup } from '../transport/listener-group';
import { fenceTarget, fencer, listenOrDefer, takeoverUrls, transportFor } from './address-claim';
import { HeartbeatLink } from './heartbeat-link';
import { recordedEpoch, recordedTerm, recordTerm, statusWriter } from './node-state';
import { Primary, type ReplicationEvent } from './primary';
import { primaryFrameLimit, standbyFrameLimit, type AckMode } from './protocol';
import { ReplicaStore } from './replica-store';
import { Standby } from './standby';
import type { TrackedRegion } from './tracked-region';

export { readStatus, type NodeStatus } from './node-state';
export { takeoverUrls, transportFor } from './address-claim';

/** What the CLI (or the daemon) hands the runners: where state lives and how to open regions. */
export interface ReplicateSettings {
  stateDir: string;
  intervalMs: number;
  timeoutMs: number;
  identity: string;
  openRegion?: (path: string) => Promise<TrackedRegion>;
  /** Resolves when the run should end (the daemon's shutdown); default: SIGTERM or SIGINT. */
  stop?: Promise<void>;
}

/** Resolves on SIGTERM or SIGINT (the first one; a second one is left to Node's default). */
function untilSignal(): Promise<void> {
  return new Promise((resolve) => {
    const on = () => {
      process.off('SIGTERM', on);
      process.off('SIGINT', on);
      resolve();
    };
    process.on('SIGTERM', on);
    process.on('SIGINT', on);
  });
}

export async function runPrimary(
  a: {
    region: string;
    /** Every URL to serve on (a TCP port and a serial line, say): standbys join on any, heartbeat on the others. */
    listen: string[];
    ackMode: AckMode;
    maxDowntimeMs: number;
    maxRounds: number;
    link: LinkOptions;
    startEpoch?: number;
    term?: bigint;
    /** The old primary's address, which a promoted node keeps telling its term. */
    fenceUrl?: string;
  },
  s: ReplicateSettings,
  transports: TransportBackend[],
  emit: (e: ReplicationEvent) => void,
): Promise<'stopped' | 'demoted'> {
  for (const url of a.listen) transportFor(url, transports); // a bad URL is bad input before anything opens
  const term = a.term ?? ((await recordedTerm(s.stateDir)) || 1n);
  await recordTerm(s.stateDir, term);
  const region = await s.openRegion!(a.region);
  // Standbys' messages are bounded by the region's size: checked from each frame's header.
  const link: LinkOptions = { ...a.link, frameLimit: primaryFrameLimit(region.size / region.pageSize) };
  const startEpoch = a.startEpoch ?? (await recordedEpoch(s.stateDir));
  let primary: Primary | undefined;
  try {
    // A promoted standby yields to another standby that took the address first with the same term.
    const bound: Listener[] = [];
    for (const url of a.listen) {
      const got = await listenOrDefer(url, link, transports, term, s.identity, emit, a.term !== undefined, startEpoch);
      if ('higherTerm' in got) {
        await Promise.all(bound.map((l) => l.close()));
        await recordTerm(s.stateDir, got.higherTerm);
        emit({ event: 'demoted', term: got.higherTerm.toString(), by: url, reason: got.higherTerm > term ? 'another node serves this address with a higher term' : 'another node of this term serves this address from an epoch at least ours' });
        return 'demoted';
      }
      bound.push(got);
    }
    const listener = listenerGroup(bound);
    primary = await Primary.start({
      region,
      listener,
      identity: s.identity,
      term,
      startEpoch,
      yieldToLaterEpoch: a.term !== undefined,
      ackMode: a.ackMode,
      serves: bound.map((l) => l.url),
      intervalMs: s.intervalMs,
      timeoutMs: s.timeoutMs,
      maxDowntimeMs: a.maxDowntimeMs,
      maxRounds: a.maxRounds,
      emit: (e) => {
        if (e.event === 'demoted') void recordTerm(s.stateDir, BigInt(e.term as string));
        emit(e);
      },
    });
    emit({ event: 'serving', url: bound[0].url, urls: bound.map((l) => l.url), region: a.region, term: term.toString(), tracker: region.backend, ackMode: a.ackMode });
    // A promoted node tells the old primary's address its term now and then: an old primary that is
    // still up (a healed partition) sees the higher term and demotes.
    const fence = a.fenceUrl ? fencer(transportFor(a.fenceUrl, transports), { ...a.link, frameLimit: standbyFrameLimit }, term, s.identity, s.timeoutMs) : undefined;
    const stopStatus = statusWriter(s.stateDir, 'primary', () => primary!.status());
    const why = await Promise.race([primary.done, (s.stop ?? untilSignal()).then(() => 'stopped' as const)]);
    fence?.stop();
    await primary.stop(why);
    await stopStatus();
    return why;
  } finally {
    await primary?.stop();
    region.close();
  }
}

export async function runStandby(
  /** connect[0] carries the replication; every further URL is a heartbeat-only link to the same primary. */
  a: { connect: string[]; replica: string; link: LinkOptions; ackMode?: AckMode; /** Replace an existing file that is not a replica. */ force?: boolean | undefined },
  s: ReplicateSettings,
  transports: TransportBackend[],
  emit: (e: ReplicationEvent) => void,
): Promise<'stopped' | 'demoted'> {
  const [t, ...extra] = a.connect.map((url) => transportFor(url, transports));
  const link: LinkOptions = { ...a.link, frameLimit: standbyFrameLimit };
  let signalled = false;
  let current: Standby | undefined;
  void (s.stop ?? untilSignal()).then(() => {
    signalled = true;
    void current?.stop();
  });
  while (!signalled) {
    const replica = await ReplicaStore.open(a.replica, { force: a.force });
    let standby: Standby | undefined;
    const heartbeatLinks = extra.map(
      (h) =>
        new HeartbeatLink({
          url: h.url.href,
          connect: () => h.backend.connect(h.url, link),
          identity: s.identity,
          intervalMs: s.intervalMs,
          timeoutMs: s.timeoutMs,
          held: () => ({ term: standby?.highestTerm ?? 0n, epoch: replica.meta?.epoch ?? 0 }),
          emit,
        }),
    );
    standby = current = new Standby({
      connect: (): Promise<Link> => t.backend.connect(t.url, link),
      replica,
      identity: s.identity,
      intervalMs: s.intervalMs,
      timeoutMs: s.timeoutMs,
      emit,
      heartbeatLinks,
    });
    const stopStatus = statusWriter(s.stateDir, 'standby', () => standby.status());
    let outcome: 'promote' | 'stopped' = 'stopped';
    try {
      outcome = await standby.run();
    } finally {
      await Promise.all(heartbeatLinks.map((h) => h.stop())); // a promoted node serves on these lines next
      await stopStatus(outcome === 'promote' && !signalled);
      await replica.close();
    }
    if (outcome !== 'promote' || signalled) return 'stopped';
    // Take over: a term above any the old primary used, the replica as the region, on the primary's URL.
    const recorded = await recordedTerm(s.stateDir);
    const term = (standby.highestTerm > recorded ? standby.highestTerm : recorded) + 1n;
    const meta = replica.meta!;
    emit({ event: 'failover', term: term.toString(), epoch: meta.epoch, from: meta.primary, url: a.connect[0] });
    const why = await runPrimary(
      {
        region: a.replica,
        listen: takeoverUrls(a.connect, standby.primaryServes),
        ackMode: a.ackMode ?? 'received',
        maxDowntimeMs: 300,
        maxRounds: 30,
        link: a.link,
        startEpoch: meta.epoch,
        term,
        fenceUrl: fenceTarget(a.connect[0]),
      },
      s,
      transports,
      emit,
    );
    if (why !== 'demoted') return why;
    // Another node serves the address with a term at least ours: follow it as its standby.
  }
  return 'stopped';
}
