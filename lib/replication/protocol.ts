import { SalvorError } from '../../bindings/salvor-error';
import { MAX_FRAME_PAYLOAD, type FrameLimit } from '../transport/frame';

/**
 * Replication messages (docs/formats/replication.md). Each is one link frame: the frame's epoch field
 * carries the sender's fencing term; the payload is a u32 LE length, a JSON header of that length,
 * then an optional binary tail (page deltas, page hashes).
 */
export const Msg = {
  hello: 0x01, // standby -> primary: who I am, what I hold
  welcome: 0x02, // primary -> standby: the region and how the join goes
  pages: 0x03, // primary -> standby: a page delta stream against what the standby holds
  epochEnd: 0x04, // primary -> standby: the pages since the previous epochEnd form epoch E
  ack: 0x05, // standby -> primary: epoch E received (in memory) or persisted (fsynced)
  heartbeat: 0x06, // both ways on every link, when nothing else was sent for an interval
  promoted: 0x07, // a node that took over announces its higher term
} as const;
export type MsgType = (typeof Msg)[keyof typeof Msg];

export type AckMode = 'async' | 'received' | 'persisted';

export interface Hello {
  identity: string;
  capabilities: string[];
  /** The last epoch the standby's replica holds (0: nothing), its term, and the region it is for. */
  heldEpoch: number;
  heldTerm: string;
  regionSize: number;
  pageSize: number;
  /** True when a page-hash tail follows: one u64 per page of the replica, for a partial resync. */
  hashes: boolean;
}

export interface Welcome {
  primary: string;
  term: string;
  regionSize: number;
  pageSize: number;
  ackMode: AckMode;
  /** full: every page follows; partial: only pages whose hash differs from the standby's. */
  plan: 'full' | 'partial';
  pagesToSend: number;
  /** In the answer to a term probe: the epoch this primary started serving from (its replica's, when promoted). */
  baseEpoch?: number;
  /** The URLs the primary serves on (a promoted standby on the same host serves exactly these). */
  serves?: string[];
}

export interface PagesHeader {
  round: number;
  /** Number of runs. */
  count: number;
  /** The pages this message carries, in order: [{first, count}]. */
  runs: { first: number; count: number }[];
  /** raw: the tail is the pages themselves (joining); otherwise a page delta stream over them, compacted. */
  raw: boolean;
}

export interface EpochEnd {
  epoch: number;
  /** Digest of the whole replica after this epoch (XXH64 over the page fingerprints, hex). */
  digest: string;
  joining: boolean;
}

export interface Ack {
  epoch: number;
  /**
   * received: in the standby's memory; persisted: fsynced there; committed: the first epoch of a
   * whole state was committed (sent once per join, whatever the ack mode: the primary reports the
   * standby in sync only on it).
   */
  level: 'received' | 'persisted' | 'committed';
}

/** The largest JSON header any message has (a join message naming 1024 single-page runs needs about 30 KiB). */
export const MAX_HEADER_BYTES = 64 * 1024;
/** Acks and heartbeats: a few numbers. */
const SMALL_MESSAGE_BYTES = 4 * 1024;

/**
 * What a primary accepts from a standby, per message (checked by the link from the frame header, before
 * the payload is read): a hello with one 8-byte fingerprint per page of the region, small acks and
 * heartbeats, nothing larger of any other type.
 */
export function primaryFrameLimit(regionPages: number): FrameLimit {
  const hello = Math.min(MAX_FRAME_PAYLOAD, 4 + MAX_HEADER_BYTES + regionPages * 8);
  return (type) => (type === Msg.hello ? hello : type === Msg.ack || type === Msg.heartbeat ? SMALL_MESSAGE_BYTES : 4 + MAX_HEADER_BYTES);
}

/** What a standby (or a node probing an address) accepts from a primary: pages up to the frame maximum, the rest small. */
export const standbyFrameLimit: FrameLimit = (type) => (type === Msg.pages ? MAX_FRAME_PAYLOAD : type === Msg.heartbeat ? SMALL_MESSAGE_BYTES : 4 + MAX_HEADER_BYTES);

export function encodeMessage(header: object, tail?: Buffer): Buffer {
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const out = Buffer.allocUnsafe(4 + json.length + (tail?.length ?? 0));
  out.writeUInt32LE(json.length, 0);
  json.copy(out, 4);
  tail?.copy(out, 4 + json.length);
  return out;
}

/**
 * A message whose tail the caller fills in place (no second copy of a large tail): the JSON header is
 * written into `into` when it has room (a buffer the caller reuses once the send has resolved), else
 * into a new buffer. Returns the whole message and the view of its tail.
 */
export function encodeMessageAround(header: object, tailLength: number, into?: Buffer): { message: Buffer; tail: Buffer } {
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const total = 4 + json.length + tailLength;
  const message = into && into.length >= total ? into.subarray(0, total) : Buffer.allocUnsafe(total);
  message.writeUInt32LE(json.length, 0);
  json.copy(message, 4);
  return { message, tail: message.subarray(4 + json.length) };
}

export function decodeMessage<T>(payload: Buffer): { header: T; tail: Buffer } {
  if (payload.length < 4) throw new SalvorError('SALVOR_BAD_FRAME', `replication message of ${payload.length} bytes is shorter than its length field`);
  const len = payload.readUInt32LE(0);
  if (len > MAX_HEADER_BYTES) throw new SalvorError('SALVOR_BAD_FRAME', `replication message header of ${len} bytes is over the ${MAX_HEADER_BYTES}-byte limit`);
  if (4 + len > payload.length) throw new SalvorError('SALVOR_BAD_FRAME', `replication message header of ${len} bytes runs past the frame`);
  let header: T;
  try {
    header = JSON.parse(payload.toString('utf8', 4, 4 + len)) as T;
  } catch (e) {
    throw new SalvorError('SALVOR_BAD_FRAME', `replication message header is not JSON: ${(e as Error).message}`);
  }
  return { header, tail: payload.subarray(4 + len) };
}
