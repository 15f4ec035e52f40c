/**
 * One serial session as a Link (docs/formats/serial-link.md, "Reliability"): selective-repeat ARQ with
 * cumulative ACKs plus a 32-frame SACK bitmap, a send window, retransmission on an adaptive timeout
 * (and at once when a frame sent later got through), bounded retries, keepalive probes. Frames are
 * delivered in seq order, each once; a seq already received is dropped. Each packet also advertises
 * how many more frames its sender can buffer, so a receiver with no frame handler stops its peer.
 */
import { SalvorError } from '../../bindings/salvor-error';
import { FrameDecoder, encodeFrame, isLinkControlType, type FrameLimit } from './frame';
import type { Frame, Link } from './link';
import { FLAG_ACK_NOW, FLAG_CLOSE_REPLY, PacketKind, type Role, type SessionPacket, encodeSessionPacket } from './serial-packet';
import { ReceiveBuffer, SACK_BITS } from './serial-receive';
import { ACK_DELAY_MS, RetransmitTimeout } from './serial-rto';

export interface SerialLinkParams {
  url: string;
  peer: string;
  role: Role;
  key: Buffer;
  /** Frames in flight at most (and frames held out of order on receipt): 1..32. */
  window: number;
  /** The window the peer announced in its HELLO. */
  peerWindow: number;
  /** The handshake's round trip, when it was measured without a repeat: the first RTT sample. */
  initialRttMs?: number;
  timeoutMs: number;
  /** Retransmissions of one frame before the link is declared lost. */
  maxRetries: number;
  /** LinkOptions.frameLimit, checked when a packet's frame is decoded. */
  frameLimit?: FrameLimit | undefined;
  /** The line's speed, for the least retransmission timeout a frame of a given size needs. */
  lineBytesPerSecond: number;
  /** Queues a packet on the line; see SerialLine.send. */
  transmit(packet: Buffer, account: (bytes: number) => void, onWritten?: () => void): void;
  /** Bytes of line activity: a packet in transit counts as the peer being alive. */
  lastBytesAt(): number;
  /** What the line threw away so far: runs that were not packets, packets no key opened. */
  lineDiscards(): { garbage: number; rejected: number };
  /** Called once when the link is done, to give the line back. */
  release(): Promise<void>;
  /** Bytes the handshake already put on the line for this session. */
  handshakeBytes: number;
}

interface InFlight {
  seq: bigint;
  /** The encoded link frame (docs/formats/frame.md). */
  body: Buffer;
  /** Order of the latest transmission among all of this link's DATA packets. */
  order: number;
  /** When the port took the latest transmission; 0 while it is still queued. */
  sentAt: number;
  retries: number;
  sacked: boolean;
}

interface WaitingSend {
  body: Buffer;
  seq: bigint;
  resolve: () => void;
  reject: (err: Error) => void;
}

const CLOSE_ATTEMPTS = 3;

export interface SerialLinkStats {
  framesSent: number;
  retransmits: number;
  framesDelivered: number;
  duplicatesDropped: number;
  rtoMs: number;
  /** Runs between delimiters on the line that were not valid COBS (garbage, broken packets). */
  garbage: number;
  /** Packets that were not HELLOs and whose MAC no session key opened (corrupted, forged, replayed from another session). */
  rejected: number;
}

export class SerialLink implements Link {
  readonly url: string;
  readonly peer: string;
  private wireBytes: number;
  private readonly window: number;
  private state: 'open' | 'closing' | 'closed' = 'open';
  private closeError: Error | undefined;
  private closeHandlers: ((err?: Error) => void)[] = [];
  private frameHandlers: ((frame: Frame) => void)[] = [];
  private closing: Promise<void> | undefined;
  private released: Promise<void> | undefined;
  private closeReplied: (() => void) | undefined;
  private flushed: (() => void) | undefined;
  // sending
  private nextSeq = 1n;
  private sendBase = 1n;
  private inFlight: InFlight[] = [];
  private waiting: WaitingSend[] = [];
  private orderCounter = 0;
  private highestAckedOrder = 0;
  private readonly rto: RetransmitTimeout;
  private rtoTimer: NodeJS.Timeout | undefined;
  /** The highest seq the peer may be sent: its last ACK plus the free buffer it announced (never shrinks). */
  private peerLimit: bigint;
  private persistTimer: NodeJS.Timeout | undefined;
  // receiving
  private readonly rx: ReceiveBuffer;
  /** Frames completed in order since the last ACK went out. */
  private unacked = 0;
  private ackTimer: NodeJS.Timeout | undefined;
  private lastHeardAt = Date.now();
  private lastSentAt = Date.now();
  private keepaliveTimer: NodeJS.Timeout;
  private readonly counters = { framesSent: 0, retransmits: 0, framesDelivered: 0, duplicatesDropped: 0 };
  private readonly account = (n: number): void => void (this.wireBytes += n);

  constructor(private readonly p: SerialLinkParams) {
    this.url = p.url;
    this.peer = p.peer;
    this.wireBytes = p.handshakeBytes;
    this.window = Math.max(1, Math.min(p.window, SACK_BITS));
    this.peerLimit = BigInt(p.peerWindow);
    this.rx = new ReceiveBuffer(this.window);
    this.rto = new RetransmitTimeout(p.lineBytesPerSecond, p.timeoutMs);
    if (p.initialRttMs !== undefined) this.rto.sample(p.initialRttMs);
    const tick = Math.max(10, Math.floor(p.timeoutMs / 4));
    this.keepaliveTimer = setInterval(() => this.keepalive(), tick);
  }

  /** Counters for tests and metrics; the line's discards are shared by every session on it. */
  get stats(): SerialLinkStats {
    return { ...this.counters, rtoMs: this.rto.ms, ...this.p.lineDiscards() };
  }

  get bytesOnWire(): number {
    return this.wireBytes;
  }

  get closed(): boolean {
    return this.state === 'closed';
  }

  send(type: number, payload: Buffer, epoch: bigint): Promise<void> {
    if (this.state !== 'open') return Promise.reject(this.closedError());
    if (isLinkControlType(type)) return Promise.reject(new SalvorError('SALVOR_BAD_INPUT', `frame type 0x${type.toString(16)} is reserved for link control (0xf0..0xff)`));
    let body: Buffer;
    try {
      body = encodeFrame({ type, epoch, seq: this.nextSeq, payload });
    } catch (err) {
      return Promise.reject(err);
    }
    const seq = this.nextSeq++;
    if (this.waiting.length === 0 && this.mayAdmit()) {
      this.admit(seq, body);
      return Promise.resolve();
    }
    const waiting = new Promise<void>((resolve, reject) => this.waiting.push({ body, seq, resolve, reject }));
    this.armPersist();
    return waiting;
  }

  /** Frames arrive only once a handler takes them; until then they wait in the window and the peer is held back. */
  onFrame(handler: (frame: Frame) => void): void {
    this.frameHandlers.push(handler);
    const wasFull = this.rx.waitingForHandler > 0;
    this.handOver();
    if (wasFull && !this.closed) this.ackNow(); // the window opened: tell the peer
  }

  onClose(handler: (err?: Error) => void): void {
    if (this.state === 'closed') queueMicrotask(() => handler(this.closeError));
    else this.closeHandlers.push(handler);
  }

  /** Waits until every accepted frame is acknowledged (or timeoutMs), says goodbye, then gives the line back. */
  close(): Promise<void> {
    this.closing ??= this.closeGracefully();
    return this.closing;
  }

  private async closeGracefully(): Promise<void> {
    if (this.state !== 'open') return this.released;
    this.state = 'closing';
    for (const w of this.waiting.splice(0)) w.reject(this.closedError());
    if (this.inFlight.length) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.p.timeoutMs);
        this.flushed = () => (clearTimeout(timer), resolve());
      });
      if (this.inFlight.length && !this.closed)
        this.finish(new SalvorError('SALVOR_LINK_LOST', `${this.peer}: ${this.inFlight.length} frames still unacknowledged when closing`, { path: this.peer }));
    }
    for (let attempt = 0; attempt < CLOSE_ATTEMPTS && !this.closed; attempt++) {
      this.sendControl(PacketKind.Close, 0);
      const answered = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), Math.max(this.rto.ms, 50));
        this.closeReplied = () => (clearTimeout(timer), resolve(true));
      });
      if (answered) break;
    }
    this.finish(undefined);
    await this.released;
  }

  /** Ends the link with an error (line failure, a newer session replacing this one). */
  fail(err: Error): void {
    this.finish(err);
  }

  /** An authenticated packet of this session (its MAC already checked by the caller). */
  receive(packet: SessionPacket): void {
    if (this.state === 'closed' || packet.role === this.p.role) return; // our own packet reflected back
    this.lastHeardAt = Date.now();
    this.processAck(packet.ack, packet.sack, packet.window);
    if (this.closed) return;
    switch (packet.kind) {
      case PacketKind.Data:
        return this.receiveData(packet);
      case PacketKind.Ack:
        if (packet.flags & FLAG_ACK_NOW) this.ackNow();
        return;
      case PacketKind.Close:
        return this.receiveClose(packet.flags);
      default:
        return; // READY: only confirms the session, which the listener has handled
    }
  }

  // ---- sending side ----

  private mayAdmit(): boolean {
    return this.inFlight.length < this.window && this.sendBase + BigInt(this.inFlight.length) <= this.peerLimit;
  }

  private admit(seq: bigint, body: Buffer): void {
    const entry: InFlight = { seq, body, order: 0, sentAt: 0, retries: 0, sacked: false };
    this.inFlight.push(entry);
    this.counters.framesSent++;
    this.transmitData(entry);
  }

  private transmitData(entry: InFlight): void {
    entry.order = ++this.orderCounter;
    entry.sentAt = 0;
    const packet = encodeSessionPacket({ kind: PacketKind.Data, role: this.p.role, flags: 0, window: this.rx.freeWindow(), sack: this.rx.sackBits(), seq: entry.seq, ack: this.rx.received }, [entry.body], this.p.key);
    this.rto.sent(packet.length);
    this.clearAckTimer(); // the ACK rides along
    this.lastSentAt = Date.now();
    const order = entry.order;
    this.p.transmit(packet, this.account, () => {
      if (entry.order !== order || this.state === 'closed') return; // a newer copy is queued behind this one
      entry.sentAt = Date.now();
      this.armRto();
    });
  }

  private retransmit(entry: InFlight): void {
    entry.retries++;
    this.counters.retransmits++;
    this.transmitData(entry);
  }

  private processAck(ack: bigint, sack: number, window: number): void {
    if (ack >= this.nextSeq) return; // acknowledges what was never sent: ignore rather than trust it
    if (ack + BigInt(window) > this.peerLimit) this.peerLimit = ack + BigInt(window);
    let progressed = false;
    let sample: number | undefined;
    const now = Date.now();
    while (this.inFlight.length && this.sendBase <= ack) {
      const e = this.inFlight.shift()!;
      this.sendBase++;
      progressed = true;
      if (e.retries === 0 && e.sentAt > 0) sample = now - e.sentAt;
      this.highestAckedOrder = Math.max(this.highestAckedOrder, e.order);
    }
    if (this.sendBase <= ack) this.sendBase = ack + 1n;
    for (let i = 0; i < SACK_BITS && sack !== 0; i++) {
      if (!((sack >>> i) & 1)) continue;
      const idx = Number(ack + 2n + BigInt(i) - this.sendBase);
      const e = this.inFlight[idx];
      if (e && !e.sacked) {
        e.sacked = true;
        this.highestAckedOrder = Math.max(this.highestAckedOrder, e.order);
      }
    }
    if (sample !== undefined) this.rto.sample(sample);
    if (progressed) this.rto.progressed();
    // A frame whose latest copy went out before one that arrived is lost: resend it now, not at its timeout.
    for (const e of this.inFlight) if (!e.sacked && e.sentAt > 0 && e.order < this.highestAckedOrder) this.retransmit(e);
    while (this.state === 'open' && this.waiting.length && this.mayAdmit()) {
      const w = this.waiting.shift()!;
      this.admit(w.seq, w.body);
      w.resolve();
    }
    if (this.inFlight.length === 0 && this.flushed) this.flushed();
    this.armRto();
    this.armPersist();
  }

  /** While frames wait on a window the peer closed, ask it now and then whether it opened (its answer may be lost). */
  private armPersist(): void {
    const stalled = this.waiting.length > 0 && this.inFlight.length === 0 && !this.mayAdmit() && !this.closed;
    if (!stalled) {
      clearTimeout(this.persistTimer);
      this.persistTimer = undefined;
    } else if (!this.persistTimer) {
      this.persistTimer = setTimeout(() => {
        this.persistTimer = undefined;
        this.ackNow(FLAG_ACK_NOW);
        this.armPersist();
      }, Math.min(Math.max(this.rto.ms, 50), 1000));
    }
  }

  private armRto(): void {
    clearTimeout(this.rtoTimer);
    this.rtoTimer = undefined;
    if (this.state === 'closed') return;
    let oldest = Infinity;
    for (const e of this.inFlight) if (!e.sacked && e.sentAt > 0 && e.sentAt < oldest) oldest = e.sentAt;
    if (oldest === Infinity) return;
    this.rtoTimer = setTimeout(() => this.rtoExpired(), Math.max(0, oldest + this.rto.ms - Date.now()));
  }

  private rtoExpired(): void {
    this.rtoTimer = undefined;
    const now = Date.now();
    const rto = this.rto.ms;
    const expired = this.inFlight.filter((e) => !e.sacked && e.sentAt > 0 && e.sentAt + rto <= now);
    for (const e of expired) {
      if (e.retries >= this.p.maxRetries)
        return this.finish(
          new SalvorError('SALVOR_LINK_LOST', `${this.peer}: frame seq ${e.seq} unacknowledged after ${e.retries} retransmissions: the peer is gone`, { path: this.peer }),
        );
    }
    if (expired.length) this.rto.expired();
    for (const e of expired) this.retransmit(e);
    this.armRto();
  }

  // ---- receiving side ----

  private receiveData(packet: SessionPacket): void {
    let frames: Frame[];
    try {
      frames = new FrameDecoder(this.p.frameLimit).push(packet.body);
    } catch (err) {
      return this.finish(err as Error); // authenticated yet malformed: the peer is broken, not the line
    }
    const frame = frames[0];
    if (frames.length !== 1 || !frame || frame.seq !== packet.seq)
      return this.finish(new SalvorError('SALVOR_BAD_FRAME', `${this.peer}: DATA packet seq ${packet.seq} does not carry exactly its frame`, { path: this.peer }));
    const { arrival, inOrder } = this.rx.arrive(frame);
    if (arrival === 'duplicate') this.counters.duplicatesDropped++;
    if (arrival !== 'accepted') return this.ackNow(); // a copy of what we have (the peer missed our ACK), or past the window
    this.unacked += inOrder;
    this.handOver();
    if (this.closed) return;
    if (this.rx.hasGap || this.unacked >= Math.max(1, this.window >> 2) || this.rx.freeWindow() === 0) this.ackNow();
    else this.ackTimer ??= setTimeout(() => this.ackNow(), ACK_DELAY_MS);
  }

  /** Gives the frames that arrived in order to the handlers (also after a close: they arrived before it). */
  private handOver(): void {
    while (this.frameHandlers.length) {
      const frame = this.rx.take();
      if (!frame) return;
      this.counters.framesDelivered++;
      for (const h of this.frameHandlers) {
        try {
          h(frame);
        } catch (err) {
          queueMicrotask(() => {
            throw err; // the handler's bug, reported as EventEmitter would; the link carries on
          });
        }
      }
    }
  }

  /** The peer's CLOSE (its ACK fields already processed): what is still in flight will never be acknowledged. */
  private receiveClose(flags: number): void {
    if (flags & FLAG_CLOSE_REPLY) return this.closeReplied?.();
    this.sendControl(PacketKind.Close, FLAG_CLOSE_REPLY);
    const unacked = this.inFlight.length;
    this.finish(unacked ? new SalvorError('SALVOR_LINK_LOST', `${this.peer}: the peer closed with ${unacked} of our frames unacknowledged`, { path: this.peer }) : undefined);
  }

  private clearAckTimer(): void {
    clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
    this.unacked = 0;
  }

  private ackNow(flags = 0): void {
    if (this.state === 'closed') return;
    this.sendControl(PacketKind.Ack, flags);
  }

  private sendControl(kind: PacketKind.Ack | PacketKind.Close | PacketKind.Ready, flags: number): void {
    this.clearAckTimer();
    this.lastSentAt = Date.now();
    const packet = encodeSessionPacket({ kind, role: this.p.role, flags, window: this.rx.freeWindow(), sack: this.rx.sackBits(), seq: 0n, ack: this.rx.received }, [], this.p.key);
    this.p.transmit(packet, this.account);
  }

  /** Confirms the session to a listener that may have missed our READY (it repeats its HELLO). */
  sendReady(): void {
    if (this.state !== 'closed') this.sendControl(PacketKind.Ready, 0);
  }

  private keepalive(): void {
    const now = Date.now();
    const heard = Math.max(this.lastHeardAt, this.p.lastBytesAt());
    if (now - heard >= this.p.timeoutMs)
      return this.finish(new SalvorError('SALVOR_LINK_LOST', `${this.peer}: nothing heard for ${now - heard} ms (timeout ${this.p.timeoutMs} ms)`, { path: this.peer }));
    if (now - this.lastHeardAt >= this.p.timeoutMs / 4) this.ackNow(FLAG_ACK_NOW);
    else if (now - this.lastSentAt >= this.p.timeoutMs / 4) this.ackNow();
  }

  // ---- ending ----

  private closedError(): SalvorError {
    if (this.closeError instanceof SalvorError) return this.closeError;
    return new SalvorError('SALVOR_CLOSED', `link to ${this.peer} is closed`, { path: this.peer });
  }

  private finish(err: Error | undefined): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.closeError = err;
    clearTimeout(this.rtoTimer);
    clearTimeout(this.persistTimer);
    clearInterval(this.keepaliveTimer);
    this.clearAckTimer();
    this.flushed?.();
    this.closeReplied?.();
    for (const w of this.waiting.splice(0)) w.reject(this.closedError());
    this.inFlight = [];
    this.rx.dropHeld();
    const handlers = this.closeHandlers.splice(0);
    this.released = this.p
      .release()
      .catch(() => {})
      .then(() => {
        for (const h of handlers) h(err);
      });
  }
}
