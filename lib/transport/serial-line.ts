/**
 * One serial line as a carrier of packets: COBS framing between 0x00 delimiters, one write at a time
 * (queued units coalesced into one write), and SALVOR_LINK_FAULT applied per packet on the way out.
 * It knows nothing of sessions; serial-session.ts decides what the packets mean.
 */
import { SalvorError } from '../../bindings/salvor-error';
import { CobsSplitter, cobsEncode } from './cobs';
import type { LinkFaultInjector } from './link-faults';

/** The byte-level device under a line: a tty through serialport, or anything else that moves bytes. */
export interface BytePort {
  /** The device, for logs and link.peer (a tty path). */
  readonly name: string;
  /** Writes every byte; called again only after the previous write settled. */
  write(bytes: Buffer): Promise<void>;
  /** Starts reading: each chunk goes to onBytes (the buffer is the caller's to keep); onError once when reading fails. */
  start(onBytes: (chunk: Buffer) => void, onError: (err: Error) => void): void;
  /** Stops reading and releases the device; safe to call twice. */
  close(): Promise<void>;
}

interface Unit {
  bytes: Buffer;
  releaseAt: number;
  account?: (bytes: number) => void;
  onWritten?: () => void;
}

/** The most bytes one port write gathers from the queue. */
const WRITE_BATCH_BYTES = 64 * 1024;
/** How long a unit picked for reordering waits for a later unit to overtake it. */
const REORDER_HOLD_MS = 20;

export class SerialLine {
  private readonly splitter: CobsSplitter;
  private queue: Unit[] = [];
  private pumping = false;
  private wakeTimer: NodeJS.Timeout | undefined;
  private heldBack: Unit | undefined;
  private heldBackTimer: NodeJS.Timeout | undefined;
  private packetHandler: (packet: Buffer) => void = () => {};
  private failureHandler: (err: SalvorError) => void = () => {};
  private drained: (() => void)[] = [];
  private closing: Promise<void> | undefined;
  private failed: SalvorError | undefined;
  /** When bytes last arrived (any bytes: a long packet in transit keeps the line alive). */
  lastBytesAt = Date.now();
  bytesWritten = 0;
  bytesRead = 0;
  /** Session packets that no key opened, counted by the session layer. */
  rejected = 0;

  constructor(
    readonly port: BytePort,
    private readonly faults: LinkFaultInjector | undefined,
    maxPacketBytes: number,
  ) {
    this.splitter = new CobsSplitter(maxPacketBytes);
    port.start(
      (chunk) => this.receive(chunk),
      (err) => this.fail(new SalvorError('SALVOR_LINK_LOST', `${port.name}: reading failed: ${err.message}`, { path: port.name })),
    );
  }

  get name(): string {
    return this.port.name;
  }

  /** Runs of bytes that were not packets: garbage on the line, or packets broken in transit. */
  get discards(): { invalid: number; oversize: number } {
    return this.splitter.discards;
  }

  onPacket(handler: (packet: Buffer) => void): void {
    this.packetHandler = handler;
  }

  onFailure(handler: (err: SalvorError) => void): void {
    this.failureHandler = handler;
    if (this.failed) handler(this.failed);
  }

  /**
   * Queues one packet. `account` learns how many bytes of it reached the port (0 when a fault dropped
   * it, twice when one duplicated it); `onWritten` runs when the port took it (or would have).
   */
  send(packet: Buffer, account?: (bytes: number) => void, onWritten?: () => void): void {
    if (this.closing || this.failed) return;
    const unit: Unit = { bytes: cobsEncode(packet), releaseAt: Date.now() + (this.faults?.delayMs ?? 0), account, onWritten };
    const decision = this.faults?.decide() ?? 'pass';
    if (decision === 'drop') unit.bytes = Buffer.alloc(0);
    else if (decision === 'corrupt') unit.bytes = this.faults!.corrupt(unit.bytes);
    if (decision === 'reorder' && !this.heldBack) {
      this.heldBack = unit;
      this.heldBackTimer = setTimeout(() => this.releaseHeldBack(), REORDER_HOLD_MS);
      return;
    }
    this.queue.push(unit);
    if (decision === 'dup') this.queue.push({ bytes: unit.bytes, releaseAt: unit.releaseAt, account });
    this.releaseHeldBack();
  }

  /** Writes raw bytes as they are (tests put garbage on the line this way). */
  sendRaw(bytes: Buffer): void {
    if (this.closing || this.failed) return;
    this.queue.push({ bytes, releaseAt: Date.now() });
    this.pump();
  }

  private releaseHeldBack(): void {
    if (this.heldBack) {
      clearTimeout(this.heldBackTimer);
      this.queue.push(this.heldBack);
      this.heldBack = undefined;
    }
    this.pump();
  }

  private pump(): void {
    if (this.pumping || this.failed) return;
    const head = this.queue[0];
    if (!head) {
      for (const resolve of this.drained.splice(0)) resolve();
      return;
    }
    const wait = head.releaseAt - Date.now();
    if (wait > 0) {
      if (!this.wakeTimer) this.wakeTimer = setTimeout(() => ((this.wakeTimer = undefined), this.pump()), wait);
      return;
    }
    const now = Date.now();
    const batch: Unit[] = [];
    let bytes = 0;
    while (this.queue.length && this.queue[0]!.releaseAt <= now && (bytes === 0 || bytes + this.queue[0]!.bytes.length <= WRITE_BATCH_BYTES)) {
      const unit = this.queue.shift()!;
      batch.push(unit);
      bytes += unit.bytes.length;
    }
    this.pumping = true;
    const settle = () => {
      this.pumping = false;
      this.bytesWritten += bytes;
      for (const unit of batch) {
        unit.account?.(unit.bytes.length);
        unit.onWritten?.();
      }
      this.pump();
    };
    if (bytes === 0) return void queueMicrotask(settle);
    const joined = batch.length === 1 ? batch[0]!.bytes : Buffer.concat(batch.map((u) => u.bytes), bytes);
    this.port.write(joined).then(settle, (err: Error) => {
      this.pumping = false;
      this.fail(new SalvorError('SALVOR_LINK_LOST', `${this.port.name}: writing failed: ${err.message}`, { path: this.port.name }));
    });
  }

  private receive(chunk: Buffer): void {
    this.lastBytesAt = Date.now();
    this.bytesRead += chunk.length;
    for (const packet of this.splitter.push(chunk)) {
      if (this.failed) return;
      this.packetHandler(packet);
    }
  }

  private fail(err: SalvorError): void {
    if (this.failed || this.closing) return;
    this.failed = err;
    this.stopTimers();
    for (const resolve of this.drained.splice(0)) resolve();
    this.failureHandler(err);
  }

  private stopTimers(): void {
    clearTimeout(this.wakeTimer);
    clearTimeout(this.heldBackTimer);
    this.wakeTimer = undefined;
  }

  /** Resolves when every queued unit has been written (or the line failed), waiting at most `ms`. */
  private drain(ms: number): Promise<void> {
    if (this.heldBack) this.releaseHeldBack();
    if (this.failed || (!this.pumping && this.queue.length === 0)) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.drained.push(() => (clearTimeout(timer), resolve()));
    });
  }

  /** Writes what is queued (for up to drainMs), then closes the port. Idempotent. */
  close(drainMs = 1000): Promise<void> {
    this.closing ??= (async () => {
      await this.drain(drainMs);
      this.stopTimers();
      this.queue = [];
      await this.port.close().catch(() => {});
    })();
    return this.closing;
  }
}
