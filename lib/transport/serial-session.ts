/**
 * Sessions on a serial line (docs/formats/serial-link.md, "Handshake"). The connecting side repeats
 * HELLO(nonceC) until the listening side answers HELLO(nonceL, nonceC); both then hold the session key
 * HMAC-SHA256(psk, nonceC || nonceL). The listener hands out a Link only once a packet sealed with that
 * key arrives (READY, or any later packet), so a replayed HELLO never makes a session. A HELLO sealed
 * with another key is refused on both sides: SALVOR_AUTH for connect, an auth-refused log line for listen.
 */
import { SalvorError } from '../../bindings/salvor-error';
import type { FrameLimit } from './frame';
import type { Link, Listener } from './link';
import { SerialLink } from './serial-arq';
import type { SerialLine } from './serial-line';
import { NONCE_BYTES, PacketKind, Role, decodeHello, encodeHello, helloKey, isSessionPacket, newNonce, openSessionPacket, sessionKey } from './serial-packet';

/** What the platform measured and parsed: the line's settings and the link's tunables. */
export interface SerialSettings {
  url: string;
  psk: Buffer;
  timeoutMs: number;
  window: number;
  maxRetries: number;
  lineBytesPerSecond: number;
  log: (line: Record<string, unknown>) => void;
  /** LinkOptions.frameLimit. */
  frameLimit?: FrameLimit | undefined;
}

/** How often a HELLO (or the listener's answer to one) is repeated until it is answered. */
const HELLO_INTERVAL_MS = 200;

function helloIntervalMs(s: SerialSettings): number {
  return HELLO_INTERVAL_MS + (60 / s.lineBytesPerSecond) * 1000;
}

/** What the handshake learnt: the peer's window, the bytes it cost, and its round trip when it was unambiguous. */
interface Handshake {
  peerWindow: number;
  bytes: number;
  rttMs: number | undefined;
}

function makeLink(line: SerialLine, s: SerialSettings, role: Role, key: Buffer, handshake: Handshake, release: () => Promise<void>): SerialLink {
  return new SerialLink({
    url: s.url,
    peer: line.name,
    role,
    key,
    window: s.window,
    peerWindow: handshake.peerWindow,
    initialRttMs: handshake.rttMs,
    timeoutMs: s.timeoutMs,
    maxRetries: s.maxRetries,
    frameLimit: s.frameLimit,
    lineBytesPerSecond: s.lineBytesPerSecond,
    transmit: (packet, account, onWritten) => line.send(packet, account, onWritten),
    lastBytesAt: () => line.lastBytesAt,
    lineDiscards: () => ({ garbage: line.discards.invalid + line.discards.oversize, rejected: line.rejected }),
    release,
    handshakeBytes: handshake.bytes,
  });
}

/** The connecting side: resolves with the Link once the listener answered, or rejects (and closes the line). */
export function connectSerialSession(line: SerialLine, s: SerialSettings): Promise<SerialLink> {
  const nonce = newNonce();
  const hk = helloKey(s.psk);
  const hello = encodeHello({ role: Role.Connecting, nonce, peerNonce: Buffer.alloc(NONCE_BYTES), window: s.window }, hk);
  let handshakeBytes = 0;
  const account = (n: number) => void (handshakeBytes += n);
  let hellos = 0;
  let helloWrittenAt = 0;
  const sendHello = () => {
    hellos++;
    line.send(hello, account, () => (helloWrittenAt = Date.now()));
  };
  return new Promise<SerialLink>((resolve, reject) => {
    let link: SerialLink | undefined;
    let peerNonce: Buffer | undefined;
    let key: Buffer | undefined;
    const fail = (err: SalvorError) => {
      clearInterval(repeat);
      clearTimeout(deadline);
      void line.close(0).then(() => reject(err));
    };
    const repeat = setInterval(sendHello, helloIntervalMs(s));
    const deadline = setTimeout(
      () => fail(new SalvorError('SALVOR_TIMEOUT', `${s.url}: no answer to HELLO from a salvor listener after ${s.timeoutMs} ms`, { path: line.name })),
      s.timeoutMs,
    );
    line.onFailure((err) => (link ? link.fail(err) : fail(err)));
    line.onPacket((packet) => {
      if (packet[1] === PacketKind.Hello) {
        const check = decodeHello(packet, hk);
        if (!check) return;
        if (!check.ok) {
          if (link) return; // the session stands; a stranger's HELLO does not end it
          s.log({ event: 'auth-refused', side: 'client', peer: line.name, reason: check.reason });
          return fail(new SalvorError('SALVOR_AUTH', `${s.url}: the listener's HELLO does not verify: ${check.reason}`, { path: line.name }));
        }
        const h = check.hello;
        if (h.role !== Role.Listening || !h.peerNonce.equals(nonce)) return; // stale, or another connecting side
        if (link) {
          if (peerNonce?.equals(h.nonce)) link.sendReady(); // the listener missed our READY
          return;
        }
        clearInterval(repeat);
        clearTimeout(deadline);
        peerNonce = h.nonce;
        key = sessionKey(s.psk, nonce, h.nonce);
        const rttMs = hellos === 1 && helloWrittenAt > 0 ? Date.now() - helloWrittenAt : undefined; // Karn: one HELLO, one answer
        link = makeLink(line, s, Role.Connecting, key, { peerWindow: h.window, bytes: handshakeBytes, rttMs }, () => line.close());
        link.sendReady();
        s.log({ event: 'link-up', side: 'client', peer: line.name });
        return resolve(link);
      }
      if (!link || !key || !isSessionPacket(packet)) return void line.rejected++;
      const opened = openSessionPacket(packet, key);
      if (opened) link.receive(opened);
      else line.rejected++;
    });
    sendHello();
  });
}

interface Pending {
  connectingNonce: Buffer;
  key: Buffer;
  answer: Buffer;
  peerWindow: number;
  bytes: number;
  answers: number;
  answerWrittenAt: number;
  repeat: NodeJS.Timeout;
  expires: NodeJS.Timeout;
}

/** The listening side: one Link per confirmed session; a newer confirmed session replaces the current one. */
export class SerialSessionListener implements Listener {
  private readonly hk: Buffer;
  private pending: Pending | undefined;
  private current: { link: SerialLink; key: Buffer; connectingNonce: Buffer; answer: Buffer } | undefined;
  private handlers: ((link: Link) => void)[] = [];
  private waiting: SerialLink[] = [];
  private refusedNonces = new Set<string>();
  private closed = false;

  constructor(
    private readonly line: SerialLine,
    private readonly s: SerialSettings,
  ) {
    this.hk = helloKey(s.psk);
    line.onPacket((packet) => this.receive(packet));
    line.onFailure((err) => {
      s.log({ event: 'listener-error', url: s.url, reason: err.message });
      this.current?.link.fail(err);
    });
  }

  get url(): string {
    return this.s.url;
  }

  onLink(handler: (link: Link) => void): void {
    this.handlers.push(handler);
    for (const link of this.waiting.splice(0)) handler(link);
  }

  /** Stops answering HELLOs; the tty stays open until the link handed out (if any) closes. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.dropPending();
    await Promise.all(this.waiting.splice(0).map((l) => l.close()));
    if (!this.current || this.current.link.closed) await this.line.close();
  }

  private receive(packet: Buffer): void {
    if (packet[1] === PacketKind.Hello) return this.closed ? undefined : this.receiveHello(packet);
    if (!isSessionPacket(packet)) return void this.line.rejected++;
    const current = this.current;
    if (current && !current.link.closed) {
      const opened = openSessionPacket(packet, current.key);
      if (opened) return current.link.receive(opened);
    }
    const pending = this.pending;
    const opened = pending && !this.closed ? openSessionPacket(packet, pending.key) : undefined;
    if (!pending || !opened || opened.role !== Role.Connecting) return void this.line.rejected++;
    this.confirm(pending);
    if (opened.kind !== PacketKind.Ready) this.current!.link.receive(opened);
  }

  private receiveHello(packet: Buffer): void {
    const check = decodeHello(packet, this.hk);
    if (!check) return;
    if (!check.ok) {
      const theirNonce = Buffer.from(packet.subarray(4, 20));
      const tag = theirNonce.toString('hex');
      if (!this.refusedNonces.has(tag)) {
        if (this.refusedNonces.size > 64) this.refusedNonces.clear();
        this.refusedNonces.add(tag);
        this.s.log({ event: 'auth-refused', side: 'server', peer: this.line.name, reason: check.reason });
      }
      // Answer with our own HELLO: the other side cannot verify it either, and fails at once instead of timing out.
      this.line.send(encodeHello({ role: Role.Listening, nonce: newNonce(), peerNonce: theirNonce, window: this.s.window }, this.hk));
      return;
    }
    const h = check.hello;
    if (h.role !== Role.Connecting) return;
    const current = this.current;
    if (current && !current.link.closed && current.connectingNonce.equals(h.nonce)) return this.line.send(current.answer); // a late repeat
    if (this.pending?.connectingNonce.equals(h.nonce)) return this.sendAnswer(this.pending);
    this.dropPending();
    const nonce = newNonce();
    const pending: Pending = {
      connectingNonce: h.nonce,
      key: sessionKey(this.s.psk, h.nonce, nonce),
      answer: encodeHello({ role: Role.Listening, nonce, peerNonce: h.nonce, window: this.s.window }, this.hk),
      peerWindow: h.window,
      bytes: 0,
      answers: 0,
      answerWrittenAt: 0,
      repeat: setInterval(() => this.sendAnswer(pending), helloIntervalMs(this.s)),
      expires: setTimeout(() => {
        this.s.log({ event: 'handshake-timeout', side: 'server', peer: this.line.name });
        this.dropPending();
      }, this.s.timeoutMs),
    };
    this.pending = pending;
    this.sendAnswer(pending);
  }

  private sendAnswer(pending: Pending): void {
    pending.answers++;
    this.line.send(
      pending.answer,
      (n) => (pending.bytes += n),
      () => (pending.answerWrittenAt = Date.now()),
    );
  }

  private dropPending(): void {
    if (!this.pending) return;
    clearInterval(this.pending.repeat);
    clearTimeout(this.pending.expires);
    this.pending = undefined;
  }

  /** The connecting side proved it holds the session key: this is a new session, and the old one is over. */
  private confirm(pending: Pending): void {
    this.dropPending();
    const previous = this.current;
    const rttMs = pending.answers === 1 && pending.answerWrittenAt > 0 ? Date.now() - pending.answerWrittenAt : undefined;
    const link = makeLink(this.line, this.s, Role.Listening, pending.key, { peerWindow: pending.peerWindow, bytes: pending.bytes, rttMs }, () => this.released(link));
    this.current = { link, key: pending.key, connectingNonce: pending.connectingNonce, answer: pending.answer };
    if (previous && !previous.link.closed)
      previous.link.fail(new SalvorError('SALVOR_LINK_LOST', `${this.line.name}: the peer started a new session (it restarted)`, { path: this.line.name }));
    this.s.log({ event: 'link-up', side: 'server', peer: this.line.name });
    if (this.handlers.length === 0) this.waiting.push(link);
    for (const h of this.handlers) h(link);
  }

  /** A session ended: the tty closes with it when the listener is closed too. */
  private async released(link: SerialLink): Promise<void> {
    if (this.current?.link === link && this.closed) await this.line.close();
  }
}
