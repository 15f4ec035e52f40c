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

