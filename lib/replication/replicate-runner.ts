import { mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { SalvorError } from '../../bindings/salvor-error';
import { writeFileAtomic } from '../agent/state-file';
import type { Link, LinkOptions, Listener, TransportBackend } from '../transport/link';
import { listenerGroup } from '../transport/listener-group';
import { HeartbeatLink } from './heartbeat-link';
import { Primary, type ReplicationEvent } from './primary';
import { decodeMessage, encodeMessage, Msg, type AckMode, type Hello, type Welcome } from './protocol';
import { ReplicaStore } from './replica-store';
import { Standby } from './standby';
import type { TrackedRegion } from './tracked-region';

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

export function transportFor(url: string, transports: TransportBackend[]): { backend: TransportBackend; url: URL } {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new SalvorError('SALVOR_BAD_INPUT', `'${url}' is not a URL (tcp://HOST:PORT or serial:///dev/ttyX?baud=N)`);
  }
  const backend = transports.find((t) => t.schemes.includes(parsed.protocol.replace(/:$/, '')));
  if (!backend) throw new SalvorError('SALVOR_BAD_INPUT', `'${url}': no transport for ${parsed.protocol} (known: ${transports.flatMap((t) => t.schemes).join(', ')})`);
  return { backend, url: parsed };
}

/** The term a node starts from: the highest it has recorded in the state directory. */
async function recordedTerm(stateDir: string): Promise<bigint> {
  try {
    return BigInt((await readFile(join(stateDir, 'replicate', 'term'), 'utf8')).trim());
  } catch {
    return 0n;
  }
}

async function recordTerm(stateDir: string, term: bigint): Promise<void> {
  await mkdir(join(stateDir, 'replicate'), { recursive: true });
  await writeFileAtomic(join(stateDir, 'replicate', 'term'), `${term}\n`);
}

/** The last epoch a primary on this node cut (epochs continue across restarts of a primary). */
async function recordedEpoch(stateDir: string): Promise<number> {
  try {
    return Number((await readFile(join(stateDir, 'replicate', 'epoch'), 'utf8')).trim()) || 0;
  } catch {
    return 0;
  }
}

/** Keeps $STATE/replicate/<role>-<pid>.json current, for `salvor replicate status`. */
function statusWriter(stateDir: string, role: string, status: () => Record<string, unknown>): () => Promise<void> {
  const file = join(stateDir, 'replicate', `${role}-${process.pid}.json`);
  let stopped = false;
  const write = async () => {
    await mkdir(join(stateDir, 'replicate'), { recursive: true });
    const now = status();
    await writeFileAtomic(file, JSON.stringify({ pid: process.pid, updated: new Date().toISOString(), ...now }) + '\n', { mode: 0o644 });
    if (role === 'primary') await writeFileAtomic(join(stateDir, 'replicate', 'epoch'), `${String(now.epoch)}\n`);
  };
  const timer = setInterval(() => void write().catch(() => undefined), 500);
  void write().catch(() => undefined);
  return async () => {
    if (stopped) return;
    stopped = true;
    clearInterval(timer);
    await write().catch(() => undefined);
  };
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

/**
 * Whoever holds the address: connect as a standby would and read the term of its first frame (and the
 * epoch it started serving from). A holder with a lower term demotes on our hello (it sees the higher
 * term) and frees the address; so does a promoted holder of the same term that started from an
 * earlier epoch than `heldEpoch`.
 */
async function holderTerm(t: { backend: TransportBackend; url: URL }, options: LinkOptions, term: bigint, identity: string, heldEpoch = 0): Promise<{ term: bigint; baseEpoch: number } | undefined> {
  let link: Link | undefined;
  try {
    link = await t.backend.connect(t.url, options);
    const first = new Promise<{ term: bigint; baseEpoch: number }>((resolve) =>
      link!.onFrame((f) => {
        let baseEpoch = 0;
        try {
          baseEpoch = decodeMessage<Welcome>(f.payload).header.baseEpoch ?? 0;
        } catch {
          // an older peer's answer: its term is what counts
        }
        resolve({ term: f.epoch, baseEpoch });
      }),
    );
    const hello: Hello = { identity, capabilities: ['term-probe'], heldEpoch, heldTerm: term.toString(), regionSize: 0, pageSize: 0, hashes: false };
    await link.send(Msg.hello, encodeMessage(hello), term);
    return await Promise.race([first, sleep(options.timeoutMs ?? 1000).then(() => undefined)]);
  } catch {
    return undefined;
  } finally {
    await link?.close().catch(() => undefined);
  }
}

/**
 * Where a promoted standby serves: its own end of the serial line, or the primary's TCP port on every
 * local address (the old primary's host address is not this node's; on one host the two collide, and
 * the holder's term decides).
 */
export function takeoverUrl(connectUrl: string): string {
  const u = new URL(connectUrl);
  if (u.protocol !== 'tcp:') return connectUrl;
  return `tcp://0.0.0.0:${u.port}`;
}

function fencer(t: { backend: TransportBackend; url: URL }, options: LinkOptions, term: bigint, identity: string, timeoutMs: number): { stop(): void } {
  const timer = setInterval(() => void holderTerm(t, { ...options, timeoutMs }, term, identity), Math.max(1000, timeoutMs));
  return { stop: () => clearInterval(timer) };
}

/**
 * Binds the URL, waiting while another node holds it. Gives up (higherTerm) when that node's term is
 * higher or, for a promoted node (`yieldToEqual`), equal with a start epoch at least ours: of two
 * standbys promoted at once the one holding the later epoch serves, the other follows it.
 */
async function listenOrDefer(
  url: string,
  options: LinkOptions,
  transports: TransportBackend[],
  term: bigint,
  identity: string,
  emit: (e: ReplicationEvent) => void,
  yieldToEqual: boolean,
  heldEpoch: number,
): Promise<Listener | { higherTerm: bigint }> {
  const t = transportFor(url, transports);
  for (let attempt = 0; ; attempt++) {
    try {
      return await t.backend.listen(t.url, options);
    } catch (err) {
      const code = (err as SalvorError).code;
      if (code !== 'EADDRINUSE' && code !== 'EBUSY') throw err;
      if (attempt === 0) emit({ event: 'waiting-for-address', url, reason: (err as Error).message });
      const theirs = await holderTerm(t, options, term, identity, heldEpoch);
      if (theirs !== undefined && (theirs.term > term || (yieldToEqual && theirs.term === term && theirs.baseEpoch >= heldEpoch))) return { higherTerm: theirs.term };
      await sleep(200);
    }
  }
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
  const startEpoch = a.startEpoch ?? (await recordedEpoch(s.stateDir));
  let primary: Primary | undefined;
  try {
    // A promoted standby yields to another standby that took the address first with the same term.
    const bound: Listener[] = [];
    for (const url of a.listen) {
      const got = await listenOrDefer(url, a.link, transports, term, s.identity, emit, a.term !== undefined, startEpoch);
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
    const fence = a.fenceUrl ? fencer(transportFor(a.fenceUrl, transports), a.link, term, s.identity, s.timeoutMs) : undefined;
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
  a: { connect: string[]; replica: string; link: LinkOptions; ackMode?: AckMode },
  s: ReplicateSettings,
  transports: TransportBackend[],
  emit: (e: ReplicationEvent) => void,
): Promise<'stopped' | 'demoted'> {
  const [t, ...extra] = a.connect.map((url) => transportFor(url, transports));
  let signalled = false;
  let current: Standby | undefined;
  void (s.stop ?? untilSignal()).then(() => {
    signalled = true;
    void current?.stop();
  });
  while (!signalled) {
    const replica = await ReplicaStore.open(a.replica);
    let standby: Standby | undefined;
    const heartbeatLinks = extra.map(
      (h) =>
        new HeartbeatLink({
          url: h.url.href,
          connect: () => h.backend.connect(h.url, a.link),
          identity: s.identity,
          intervalMs: s.intervalMs,
          timeoutMs: s.timeoutMs,
          held: () => ({ term: standby?.highestTerm ?? 0n, epoch: replica.meta?.epoch ?? 0 }),
          emit,
        }),
    );
    standby = current = new Standby({
      connect: (): Promise<Link> => t.backend.connect(t.url, a.link),
      replica,
      identity: s.identity,
      intervalMs: s.intervalMs,
      timeoutMs: s.timeoutMs,
      emit,
      heartbeatLinks,
    });
    const stopStatus = statusWriter(s.stateDir, 'standby', () => standby.status());
    const outcome = await standby.run();
    await Promise.all(heartbeatLinks.map((h) => h.stop())); // a promoted node serves on these lines next
    await stopStatus();
    await replica.close();
    if (outcome !== 'promote' || signalled) return 'stopped';
    // Take over: a term above any the old primary used, the replica as the region, on the primary's URL.
    const recorded = await recordedTerm(s.stateDir);
    const term = (standby.highestTerm > recorded ? standby.highestTerm : recorded) + 1n;
    const meta = replica.meta!;
    emit({ event: 'failover', term: term.toString(), epoch: meta.epoch, from: meta.primary, url: a.connect[0] });
    const why = await runPrimary(
      {
        region: a.replica,
        listen: a.connect.map(takeoverUrl),
        ackMode: a.ackMode ?? 'received',
        maxDowntimeMs: 300,
        maxRounds: 30,
        link: a.link,
        startEpoch: meta.epoch,
        term,
        fenceUrl: a.connect[0],
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

export interface NodeStatus {
  role: string;
  pid: number;
  running: boolean;
  term: string;
  epoch: number;
  detail?: string;
  [k: string]: unknown;
}

/** What every replication process that used this state directory last wrote about itself. */
export async function readStatus(stateDir: string): Promise<{ nodes: NodeStatus[] }> {
  const dir = join(stateDir, 'replicate');
  let names: string[] = [];
  try {
    names = (await readdir(dir)).filter((n) => /^(primary|standby)-\d+\.json$/.test(n));
  } catch {
    return { nodes: [] };
  }
  const nodes: NodeStatus[] = [];
  for (const name of names) {
    try {
      const s = JSON.parse(await readFile(join(dir, name), 'utf8')) as NodeStatus;
      let running = true;
      try {
        process.kill(s.pid, 0);
      } catch {
        running = false;
      }
      const standbys = (s.standbys as { standby: string; phase: string }[] | undefined)?.map((x) => `${x.standby}:${x.phase}`).join(', ');
      nodes.push({ ...s, running, detail: standbys ? `standbys ${standbys}` : s.role === 'standby' ? `in-sync ${String(s.inSync)}` : '' });
    } catch {
      // a file being replaced right now: the next call reads it
    }
  }
  return { nodes: nodes.sort((x, y) => Number(y.running) - Number(x.running) || x.pid - y.pid) };
}
