import { SalvorError } from '../../bindings/salvor-error';
import type { Frame, Link } from '../../lib/transport/link';

/** An in-process Link pair (ordered, exactly once), for protocol tests without a network. */
class MemoryLink implements Link {
  private frameHandlers: ((f: Frame) => void)[] = [];
  private closeHandlers: ((err?: Error) => void)[] = [];
  private seq = 0n;
  private closed = false;
  other!: MemoryLink;
  bytesOnWire = 0;
  constructor(
    readonly url: string,
    readonly peer: string,
  ) {}
  async send(type: number, payload: Buffer, epoch: bigint): Promise<void> {
    if (this.closed) throw new SalvorError('SALVOR_CLOSED', `link to ${this.peer} is closed`);
    this.seq++;
    this.bytesOnWire += payload.length + 28;
    const frame: Frame = { type, epoch, seq: this.seq, payload: Buffer.from(payload) };
    const target = this.other;
    setImmediate(() => {
      if (!target.closed) for (const h of target.frameHandlers) h(frame);
    });
  }
  onFrame(handler: (f: Frame) => void): void {
    this.frameHandlers.push(handler);
  }
  onClose(handler: (err?: Error) => void): void {
    this.closeHandlers.push(handler);
  }
  async close(err?: Error): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const h of this.closeHandlers) h(err);
    void this.other.close(err);
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
