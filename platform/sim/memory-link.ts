import { SalvorError } from '../../bindings/salvor-error';
import { MAX_FRAME_PAYLOAD } from '../../lib/transport/frame';
import type { Frame, Link } from '../../lib/transport/link';

/** Frames a receiver may hold unread before its peer's sends wait (the link's window). */
const WINDOW = 16;

/**
 * An in-process Link pair (ordered, exactly once), for protocol tests without a network. It keeps the
 * Link contract (test/transport/link-contract.ts) as the real links do: frames wait in the receiver's
 * inbox until it has a frame handler, and a sender whose peer holds a full window waits.
 */
class MemoryLink implements Link {
  private frameHandlers: ((f: Frame) => void)[] = [];
  private closeHandlers: ((err?: Error) => void)[] = [];
  private readonly inbox: Frame[] = [];
  private waiters: { resolve: () => void; reject: (e: Error) => void }[] = [];
  private draining = false;
  private seq = 0n;
  private closed = false;
  private closeError: Error | undefined;
  other!: MemoryLink;
  bytesOnWire = 0;
  constructor(
    readonly url: string,
    readonly peer: string,
  ) {}

  async send(type: number, payload: Buffer, epoch: bigint): Promise<void> {
    if (this.closed) throw new SalvorError('SALVOR_CLOSED', `link to ${this.peer} is closed`);
    if (payload.length > MAX_FRAME_PAYLOAD) throw new SalvorError('SALVOR_BAD_INPUT', `a frame payload of ${payload.length} bytes is over ${MAX_FRAME_PAYLOAD}`);
    if (!Number.isInteger(type) || type < 0 || type >= 0xf0) throw new SalvorError('SALVOR_BAD_INPUT', `frame type ${type} is not 0..0xef`);
    this.seq++;
    this.bytesOnWire += payload.length + 28;
    this.other.deliver({ type, epoch, seq: this.seq, payload: Buffer.from(payload) });
    while (this.other.inbox.length >= WINDOW && !this.closed) {
      await new Promise<void>((resolve, reject) => this.other.waiters.push({ resolve, reject }));
    }
  }

  private deliver(frame: Frame): void {
    this.inbox.push(frame);
    this.scheduleDrain();
  }

  private scheduleDrain(): void {
    if (this.draining || this.frameHandlers.length === 0 || this.inbox.length === 0) return;
    this.draining = true;
    setImmediate(() => this.drain());
  }

  private drain(): void {
    this.draining = false;
    while (this.inbox.length && this.frameHandlers.length) {
      const frame = this.inbox.shift()!;
      for (const h of this.frameHandlers) h(frame);
    }
    for (const w of this.waiters.splice(0)) w.resolve();
  }

  onFrame(handler: (f: Frame) => void): void {
    this.frameHandlers.push(handler);
    this.scheduleDrain(); // frames that waited for a reader (also after a close: they were sent before it)
  }

  onClose(handler: (err?: Error) => void): void {
    if (this.closed) setImmediate(() => handler(this.closeError));
    else this.closeHandlers.push(handler);
  }

  async close(err?: Error): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.closeError = err;
    for (const w of this.other.waiters.splice(0)) w.reject(new SalvorError('SALVOR_CLOSED', `link to ${this.peer} is closed`));
    this.drain(); // what arrived before the close is delivered before onClose (a reader that comes later still gets it)
    for (const h of this.closeHandlers.splice(0)) h(err);
    await this.other.close(err);
  }
}

export function memoryLinkPair(): [Link, Link] {
  const a = new MemoryLink('mem://a', 'b');
  const b = new MemoryLink('mem://b', 'a');
  a.other = b;
  b.other = a;
  return [a, b];
}

/** An in-process listener: connect() hands its onLink handlers the other end of a fresh pair. */
export class MemoryListener {
  private handlers: ((link: Link) => void)[] = [];
  private closed = false;
  readonly url = 'mem://listener';
  onLink(handler: (link: Link) => void): void {
    this.handlers.push(handler);
  }
  async connect(): Promise<Link> {
    if (this.closed) throw new SalvorError('SALVOR_CONNECT', 'nothing listens at mem://listener');
    const [client, server] = memoryLinkPair();
    for (const h of this.handlers) h(server);
    return client;
  }
  async close(): Promise<void> {
    this.closed = true;
  }
}
