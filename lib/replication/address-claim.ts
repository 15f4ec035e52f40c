import { networkInterfaces } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { SalvorError } from '../../bindings/salvor-error';
import type { Link, LinkOptions, Listener, TransportBackend } from '../transport/link';
import type { ReplicationEvent } from './primary';
import { decodeMessage, encodeMessage, Msg, type Hello, type Welcome } from './protocol';

/**
 * Who serves an address: the transport for a URL, the term probe a node sends to whoever holds an
 * address it wants, binding with deferral to a holder of a higher term (or the same term and a later
 * epoch), and the fencing probes a promoted node keeps sending to the old primary's address.
 */

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

/** Whether `host` names this machine: a loopback name or address, or an address of one of its interfaces. */
export function isLocalHost(host: string): boolean {
  const h = host.replace(/^\[(.*)\]$/, '$1');
  if (h === 'localhost' || h === '::1' || /^127\./.test(h)) return true;
  return Object.values(networkInterfaces()).some((list) => list?.some((i) => i.address === h));
}

const isWildcard = (host: string) => host === '0.0.0.0' || host === '[::]' || host === '::';

/**
 * Where a promoted standby serves. TCP: exactly the addresses the primary served (its welcome says
 * which; without that, the address the standby connected to), where this machine has them (same host,
 * or a wildcard); an address of another host is served on this one's wildcard of the same family and
 * port. Serial: the standby's own end of each line it connected on.
 */
export function takeoverUrls(connectUrls: string[], primaryServed: string[] | undefined): string[] {
  const tcpServed = (primaryServed ?? []).filter((u) => u.startsWith('tcp://'));
  const tcp = tcpServed.length ? tcpServed : connectUrls.filter((u) => u.startsWith('tcp://'));
  const urls = tcp.map((url) => {
    const u = new URL(url);
    if (isWildcard(u.hostname) || isLocalHost(u.hostname)) return `tcp://${u.hostname}:${u.port}`;
    return `tcp://${u.hostname.startsWith('[') ? '[::]' : '0.0.0.0'}:${u.port}`;
  });
  for (const url of connectUrls) if (!url.startsWith('tcp://')) urls.push(url);
  return [...new Set(urls)];
}

/**
 * The address a promoted node keeps telling its term (an old primary that is still up there demotes),
 * or undefined when there is none to tell: on this machine the promoted node holds the old primary's
 * address itself, and a serial line's other end is the old primary only through the line it now serves.
 */
export function fenceTarget(connectUrl: string): string | undefined {
  const u = new URL(connectUrl);
  if (u.protocol !== 'tcp:' || isLocalHost(u.hostname)) return undefined;
  return connectUrl;
}

export function fencer(t: { backend: TransportBackend; url: URL }, options: LinkOptions, term: bigint, identity: string, timeoutMs: number): { stop(): void } {
  const timer = setInterval(() => void holderTerm(t, { ...options, timeoutMs }, term, identity), Math.max(1000, timeoutMs));
  return { stop: () => clearInterval(timer) };
}

/**
 * Binds the URL, waiting while another node holds it. Gives up (higherTerm) when that node's term is
 * higher or, for a promoted node (`yieldToEqual`), equal with a start epoch at least ours: of two
 * standbys promoted at once the one holding the later epoch serves, the other follows it.
 */
export async function listenOrDefer(
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

