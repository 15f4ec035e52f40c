import type { FrameLimit } from './frame';

/**
 * The peer transport every replication message travels on (docs/formats/frame.md). A Link is one
 * authenticated, ordered, exactly-once stream of frames between two salvor processes; TCP (with TLS)
 * and serial lines (with our own ARQ) both provide it, from platform/linux/transport-*.ts, and pass
 * test/transport/link-contract.
 *
 * Rules every backend keeps:
 * - frames arrive in the order sent, each once, with the payload intact (CRC-32C checked), or the link
 *   closes with a SalvorError: never a silent gap;
 * - a peer that fails authentication is refused before any frame is delivered (SALVOR_AUTH), with a
 *   clear log line;
 * - send() resolves when the frame is accepted by the link (queued within its window), so a slow peer
 *   applies backpressure; it rejects once the link is closed;
 * - close() is idempotent; onClose fires exactly once, with the error when the link failed.
 */
export interface Frame {
  type: number;
  /** The sender's epoch when it sent the frame (replication's fencing epoch). */
  epoch: bigint;
  /** Per-link sequence number, assigned by the link, starting at 1. */
  seq: bigint;
  payload: Buffer;
}

export interface Link {
  /** The URL this link was made from (tcp://HOST:PORT, serial:///dev/ttyX?baud=N). */
  readonly url: string;
  /** Who is at the other end, for logs (address and port, or the tty). */
  readonly peer: string;
  send(type: number, payload: Buffer, epoch: bigint): Promise<void>;
  onFrame(handler: (frame: Frame) => void): void;
  onClose(handler: (err?: Error) => void): void;
  close(): Promise<void>;
  /** Bytes written to the medium so far, framing included (for overhead figures). */
  readonly bytesOnWire: number;
}

export interface Listener {
  readonly url: string;
  onLink(handler: (link: Link) => void): void;
  close(): Promise<void>;
}

export interface LinkOptions {
  /** Pre-shared key: TLS-PSK on TCP, HMAC on serial. */
  psk?: Buffer;
  /** Mutual TLS on TCP when no psk: PEM contents. */
  tls?: { cert: Buffer; key: Buffer; ca: Buffer };
  /** Who we are, sent in the PSK identity and in logs. */
  identity?: string;
  /** Give up connecting, or declare the peer gone, after this long without progress (ms). */
  timeoutMs?: number;
  log?: (line: Record<string, unknown>) => void;
  /**
   * The largest payload this side accepts per frame type (the user's protocol knows its messages'
   * sizes); a bigger frame closes the link with SALVOR_BAD_FRAME. TCP checks it from the frame header,
   * before the payload is read; serial, which must hold a whole packet to check its MAC, on receipt.
   */
  frameLimit?: FrameLimit;
}

/** What platform code provides: listen on and connect to the URL schemes it knows. */
export interface TransportBackend {
  schemes: string[];
  listen(url: URL, options: LinkOptions): Promise<Listener>;
  connect(url: URL, options: LinkOptions): Promise<Link>;
}
