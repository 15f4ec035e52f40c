/**
 * The stream link protocol: one Link over one connected stream socket (TLS in the product; plain only
 * inside the transport benchmark): frames out with batching and backpressure, frames in through the
 * decoder, sequence checks, the link hello, fault injection. Nothing here depends on the OS; the TCP
 * backend (platform/linux/transport-tcp.ts) makes and authenticates the sockets.
 */
import type * as net from 'node:net';
import { SalvorError } from '../../bindings/salvor-error';
import { encodeFrame, encodeFrameInto, encodeFrameParts, FrameDecoder, frameWireLength, isLinkControlType, LINK_HELLO_TYPE, type FrameLimit } from './frame';
import type { Frame, Link } from './link';
import type { LinkFaultInjector } from './link-faults';

export type LogLine = (line: Record<string, unknown>) => void;

/**
 * Payloads from 256 KiB go out without a copy; smaller frames are copied into 1 MiB batches, since a
 * write costs Node far more per call than a copy of the bytes (on loopback, 64 KiB writes ran at a third
 * of the speed of 1 MiB writes).
 */
const ZERO_COPY_BYTES = 256 * 1024;
const BATCH_BYTES = 1024 * 1024 + 4096;
/** Batch buffers kept for reuse once written (fresh large buffers cost page faults on every fill). */
const SPARE_BATCHES = 4;
/** Built on first use, not at import: importing this module must not load the native addon (salvor doctor runs without it). */
let hello: Buffer | undefined;
const helloFrame = () => (hello ??= encodeFrame({ type: LINK_HELLO_TYPE, epoch: 0n, seq: 0n, payload: Buffer.alloc(0) }));

interface Waiter {
  resolve: () => void;
  reject: (err: Error) => void;
}

export interface SocketLinkOptions {
  faults?: LinkFaultInjector | undefined;
  log?: LogLine | undefined;
  /** How long close() waits for the peer to finish, and hello() for the peer's hello, before giving up. */
  timeoutMs: number;
  /** The socket encrypts (TLS): every frame then goes through a batch (see `encrypted` below). */
  encrypted?: boolean;
  /** Per-type payload limits (LinkOptions.frameLimit), checked from each frame's header. */
  frameLimit?: FrameLimit | undefined;
}

/**
 * A Link over one connected stream socket. The TCP backend gives it authenticated TLS sockets only;
 * tools/bench/transport-tcp.ts also runs it over plain sockets to measure framing apart from TLS (no
 * URL or option reaches that: the product never carries frames without authentication).
 *
 * Each side sends a hello (type 0xF0, seq 0) first; hello() resolves when the peer's arrives. After that
 * the socket is read only while a frame handler is registered, so a peer whose receiver has not started
 * feels backpressure instead of filling this process's memory.
 */
export class SocketLink implements Link {
  private sendSeq = 0n;
  /** The seq the next frame must carry: 0 for the hello, then 1, 2, ... */
  private dueSeq = 0n;
  private readonly decoder: FrameDecoder;
  private readonly frameHandlers: ((frame: Frame) => void)[] = [];
  private readonly closeHandlers: ((err?: Error) => void)[] = [];
  /** Frames that came with the hello, before any handler. */
  private early: Frame[] = [];
  private state: 'open' | 'closing' | 'closed' = 'open';
  private error: Error | undefined;
  private drainWaiters: Waiter[] = [];
  private closeTimer: NodeJS.Timeout | undefined;
  private readonly closed: Promise<void>;
  private resolveClosed!: () => void;
  private helloWaiter: Waiter | undefined;
  /** Small frames encoded this tick, written together by flushBatch(). */
  private batch: Buffer | undefined;
  private batchUsed = 0;
  private spareBatches: Buffer[] = [];
  /** The largest batch made for one big frame, kept for the next (fresh buffers cost a page fault per page). */
  private spareLarge: Buffer | undefined;
  private flushScheduled = false;
  /**
   * TLS copies a gathered write (writev) into one buffer before encrypting, so on TLS every frame goes
   * through the batch (one copy, into a reused buffer) and each batch is one write.
   */
  private readonly encrypted: boolean;
  bytesOnWire = 0;

  constructor(
    private readonly socket: net.Socket,
    readonly url: string,
    readonly peer: string,
    private readonly options: SocketLinkOptions,
  ) {
    this.closed = new Promise((resolve) => (this.resolveClosed = resolve));
    // The link's own hello is small whatever the user's limits say.
    const limit = options.frameLimit;
    this.decoder = new FrameDecoder(limit && ((type) => (type === LINK_HELLO_TYPE ? 0 : limit(type))));
    this.encrypted = options.encrypted ?? false;
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    socket.on('end', () => {
      if (this.state === 'open' && this.decoder.bufferedBytes > 0)
        this.fail(new SalvorError('SALVOR_BAD_FRAME', `${peer}: the stream ended ${this.decoder.bufferedBytes} bytes into a frame`, { path: peer }));
    });
    socket.on('drain', () => this.settleWaiters());
    socket.on('finish', () => this.settleWaiters());
    socket.on('error', (err) => this.fail(SalvorError.fromNode(err, peer)));
    socket.on('close', () => this.finish());
    const hello = helloFrame();
    this.bytesOnWire += hello.length;
    socket.write(hello);
  }

  /** Resolves when the peer's hello arrives; otherwise (or after timeoutMs) the link closes and this rejects with why. */
  hello(timeoutMs = this.options.timeoutMs): Promise<void> {
    if (this.dueSeq > 0n) return Promise.resolve();
    if (this.state !== 'open') return Promise.reject(this.error ?? this.closedError());
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.fail(new SalvorError('SALVOR_TIMEOUT', `${this.peer}: no hello within ${timeoutMs} ms`, { path: this.peer })), timeoutMs);
      this.helloWaiter = {
        resolve: () => (clearTimeout(timer), resolve()),
        reject: (err) => (clearTimeout(timer), reject(err)),
      };
    });
  }

  async send(type: number, payload: Buffer, epoch: bigint): Promise<void> {
    if (this.state !== 'open') throw this.closedError();
    if (isLinkControlType(type)) throw new SalvorError('SALVOR_BAD_INPUT', `frame type 0x${type.toString(16)} is reserved for link control (0xf0..0xff)`);
    const frame = { type, epoch, seq: this.sendSeq + 1n, payload };
    if (this.options.faults) {
      const bytes = encodeFrame(frame);
      this.sendSeq++;
      return this.options.faults.apply(bytes, (unit) => this.writeNow(unit));
    }
    // The caller may reuse its payload once send() resolves. Small frames are copied into the batch,
    // which leaves once per tick in one write; large ones are written from the payload itself, and
    // their send() waits until the socket has taken them.
    if (payload.length >= ZERO_COPY_BYTES && !this.encrypted) {
      const parts = encodeFrameParts(frame);
      this.sendSeq++;
      return this.writeParts(parts);
    }
    const length = frameWireLength(payload.length);
    if (!this.batch || this.batchUsed + length > this.batch.length) {
      this.flushBatch();
      this.batch = length <= BATCH_BYTES ? (this.spareBatches.pop() ?? Buffer.allocUnsafe(BATCH_BYTES)) : this.largeBatch(length);
      this.scheduleFlush();
    }
    this.batchUsed += encodeFrameInto(frame, this.batch, this.batchUsed);
    this.sendSeq++;
    this.bytesOnWire += length;
    return this.accepted();
  }

  onFrame(handler: (frame: Frame) => void): void {
    this.frameHandlers.push(handler);
    if (this.frameHandlers.length > 1 || this.dueSeq === 0n) return;
    // The first handler: hand it what came with the hello, then read on.
    queueMicrotask(() => {
      const early = this.early;
      this.early = [];
      for (const frame of early) if (!this.deliver(frame)) return;
      if (this.state === 'open') this.socket.resume();
    });
  }

  onClose(handler: (err?: Error) => void): void {
    if (this.state === 'closed') queueMicrotask(() => handler(this.error));
    else this.closeHandlers.push(handler);
  }

  /** Flushes what was accepted, ends the stream, and resolves once the socket is gone. */
  close(): Promise<void> {
    if (this.state === 'open') {
      this.flushBatch();
      this.state = 'closing';
      this.options.faults?.cancel(this.closedError());
      this.socket.end();
      this.socket.resume(); // read (and drop) until the peer's end, so the close completes
      this.closeTimer = setTimeout(() => this.socket.destroy(), this.options.timeoutMs);
    }
    return this.closed;
  }

  private closedError(): SalvorError {
    return new SalvorError('SALVOR_CLOSED', `link to ${this.peer} is closed${this.error ? ` (${this.error.message})` : ''}`, { path: this.peer });
  }

  private badFrame(what: string): SalvorError {
    return new SalvorError('SALVOR_BAD_FRAME', `${this.peer}: ${what}`, { path: this.peer });
  }

  private receive(chunk: Buffer): void {
    if (this.state !== 'open') return;
    let frames: Frame[];
    try {
      frames = this.decoder.push(chunk);
    } catch (err) {
      return this.fail(this.badFrame((err as Error).message));
    }
    for (const frame of frames) {
      if (this.state !== 'open') return;
      if (frame.seq !== this.dueSeq) return this.fail(this.badFrame(`frame seq ${frame.seq} where ${this.dueSeq} was due (a frame was lost, repeated or reordered)`));
      this.dueSeq++;
      if (frame.seq === 0n) {
        if (frame.type !== LINK_HELLO_TYPE) return this.fail(this.badFrame(`the first frame is type 0x${frame.type.toString(16)}, not a hello`));
        if (this.frameHandlers.length === 0) this.socket.pause();
        this.helloWaiter?.resolve();
        continue;
      }
      if (isLinkControlType(frame.type)) return this.fail(this.badFrame(`link control frame type 0x${frame.type.toString(16)} after the hello`));
      if (this.frameHandlers.length === 0 || this.early.length > 0) this.early.push(frame);
      else if (!this.deliver(frame)) return;
    }
  }

  /** Hands one frame to the handlers; a handler that throws closes the link with its error. */
  private deliver(frame: Frame): boolean {
    if (this.state !== 'open') return false;
    try {
      for (const h of this.frameHandlers) h(frame);
      return true;
    } catch (err) {
      this.fail(err instanceof Error ? err : new Error(String(err)));
      return false;
    }
  }

  private writeNow(bytes: Buffer): Promise<void> {
    if (this.state !== 'open') return Promise.reject(this.closedError());
    this.flushBatch();
    this.bytesOnWire += bytes.length;
    this.socket.write(bytes);
    return this.accepted();
  }

  /**
   * Writes a large frame from the caller's payload. send() must not resolve while the socket still
   * holds the payload: it resolves at once when the kernel took every byte during write() (nothing is
   * left queued), else when the write completes.
   */
  private writeParts([header, payload, trailer]: [Buffer, Uint8Array, Buffer]): Promise<void> {
    this.bytesOnWire += frameWireLength(payload.length);
    let settled: Promise<void> | undefined;
    const written = new Promise<void>((resolve, reject) => {
      const waiter = { resolve, reject };
      this.drainWaiters.push(waiter); // settled by close if the callback never comes
      this.socket.cork(); // the batch before it, and the three parts, leave in one writev
      this.flushBatch();
      this.socket.write(header);
      this.socket.write(payload);
      this.socket.write(trailer, (err) => (err ? reject(this.closedError()) : resolve()));
      this.socket.uncork();
      if (this.socket.writableLength === 0) settled = Promise.resolve();
    });
    if (settled) {
      written.catch(() => {}); // the write finished synchronously; its callback no longer matters
      return settled;
    }
    return written;
  }

  /**
   * Writes the batch once the sender yields, unless the socket is still busy: then after its 'drain',
   * so a sender held up by backpressure fills whole batches instead of writing one frame per wait.
   */
  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    process.nextTick(() => {
      if (this.socket.writableNeedDrain && this.state === 'open') {
        this.socket.once('drain', () => {
          this.flushScheduled = false;
          if (this.batchUsed > 0) this.scheduleFlush();
        });
        return;
      }
      this.flushScheduled = false;
      this.flushBatch();
    });
  }

  /** A batch for one frame over BATCH_BYTES (TLS: every frame goes through a batch): the spare when it is big enough. */
  private largeBatch(length: number): Buffer {
    const spare = this.spareLarge;
    if (spare && spare.length >= length) {
      this.spareLarge = undefined;
      return spare;
    }
    return Buffer.allocUnsafe(length);
  }

  private flushBatch(): void {
    const batch = this.batch;
    this.batch = undefined;
    const used = this.batchUsed;
    this.batchUsed = 0;
    if (!batch) return;
    const reuse = () => {
      if (batch.length === BATCH_BYTES && this.spareBatches.length < SPARE_BATCHES) this.spareBatches.push(batch);
      else if (batch.length > BATCH_BYTES && batch.length > (this.spareLarge?.length ?? 0)) this.spareLarge = batch;
    };
    if (used === 0 || this.socket.destroyed) return reuse();
    let done = false;
    this.socket.write(batch.subarray(0, used), (err) => {
      if (!err && !done) reuse();
      done = true;
    });
    // Nothing left queued: the kernel took it all during write(), and the batch is free again now.
    if (this.socket.writableLength === 0 && !done) {
      done = true;
      reuse();
    }
  }

  /** Resolves now while the socket's buffer is below its mark, else at the next 'drain' (backpressure). */
  private accepted(): Promise<void> {
    if (!this.socket.writableNeedDrain) return Promise.resolve();
    return new Promise((resolve, reject) => this.drainWaiters.push({ resolve, reject }));
  }

  private settleWaiters(err?: Error): void {
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const w of waiters) err ? w.reject(err) : w.resolve();
  }

  private fail(err: Error): void {
    if (this.state === 'closed') return;
    if (!this.error) {
      this.error = err;
      if (this.dueSeq > 0n) this.options.log?.({ event: 'link-failed', peer: this.peer, code: (err as SalvorError).code, reason: err.message });
    }
    this.state = 'closing';
    this.options.faults?.cancel(this.closedError());
    this.socket.destroy();
  }

  private finish(): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    clearTimeout(this.closeTimer);
    this.options.faults?.cancel(this.closedError());
    this.settleWaiters(this.closedError());
    this.helloWaiter?.reject(this.error ?? new SalvorError('SALVOR_CLOSED', `${this.peer} closed the connection before its hello`, { path: this.peer }));
    this.early = [];
    const handlers = this.closeHandlers.splice(0);
    this.resolveClosed();
    for (const h of handlers) h(this.error);
  }
}
