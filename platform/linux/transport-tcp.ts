/**
 * The TCP transport: `tcp://HOST:PORT`, frames (docs/formats/frame.md) back to back on a TLS stream.
 * Authentication is required: TLS 1.3 (or 1.2) PSK with `psk`, mutual certificates with `tls`; a peer that fails
 * the handshake, or hangs up before its hello frame, is logged once and never becomes a Link.
 * SALVOR_LINK_FAULT (lib/transport/link-faults.ts) applies per outgoing frame; the receiver's CRC and
 * sequence checks then close the link with SALVOR_BAD_FRAME (TCP does not retransmit: replication reconnects).
 */
import * as net from 'node:net';
import * as tls from 'node:tls';
import { SalvorError } from '../../bindings/salvor-error';
import type { Link, LinkOptions, Listener, TransportBackend } from '../../lib/transport/link';
import { linkFaultsFromEnv, parseLinkFaults, type LinkFaultInjector } from '../../lib/transport/link-faults';
import { MIN_PSK_BYTES } from '../../lib/transport/psk-file';
import { SocketLink, type LogLine } from '../../lib/transport/socket-link';


/**
 * PSK: TLS 1.3 with TLS_AES_128_GCM_SHA256 (an ephemeral ECDHE share on top of the key, psk_dhe_ke, so
 * a key that leaks later does not open recorded traffic), else TLS 1.2 with an AES-GCM PSK suite, for
 * peers that offer only TLS 1.2. AES-128-GCM first: it runs on AES-NI and costs about 13 % less than
 * AES-256-GCM per byte here; all are AEAD, none is a NULL or CBC suite.
 */
const PSK_CIPHERS = 'TLS_AES_128_GCM_SHA256:PSK-AES128-GCM-SHA256:PSK-AES256-GCM-SHA384';
const DEFAULT_TIMEOUT_MS = 5000;
const DEFAULT_IDENTITY = 'salvor';


function parseTcpUrl(url: URL, forListen: boolean): { host: string; port: number } {
  if (url.protocol !== 'tcp:') throw new SalvorError('SALVOR_BAD_INPUT', `${url.href}: the TCP transport takes tcp://HOST:PORT`);
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (!host) throw new SalvorError('SALVOR_BAD_INPUT', `${url.href}: no host (tcp://HOST:PORT)`);
  if (url.port === '' && !forListen) throw new SalvorError('SALVOR_BAD_INPUT', `${url.href}: no port (tcp://HOST:PORT)`);
  const port = url.port === '' ? 0 : Number(url.port);
  if (!forListen && port === 0) throw new SalvorError('SALVOR_BAD_INPUT', `${url.href}: port 0 can only be listened on`);
  if ((url.pathname !== '' && url.pathname !== '/') || url.search || url.hash || url.username)
    throw new SalvorError('SALVOR_BAD_INPUT', `${url.href}: a TCP link URL has only a host and a port`);
  return { host, port };
}

function formatTcpUrl(host: string, port: number): string {
  return `tcp://${net.isIPv6(host) ? `[${host}]` : host}:${port}`;
}

function peerOf(socket: net.Socket): string | undefined {
  const addr = socket.remoteAddress;
  return addr === undefined ? undefined : `${net.isIPv6(addr) ? `[${addr}]` : addr}:${socket.remotePort}`;
}

/** A short why for logs: OpenSSL's reason, a certificate verdict, or what the socket said. */
function reasonOf(err: unknown): string {
  const e = err as NodeJS.ErrnoException & { reason?: string };
  if (e?.code === 'ECONNRESET' || e?.code === 'SALVOR_CLOSED') return 'the peer hung up';
  return e?.reason ?? (e?.code && !e.code.startsWith('ERR_SSL') ? e.code : e?.message) ?? String(err);
}

type Auth = { kind: 'psk'; psk: Buffer; identity: string } | { kind: 'certs'; cert: Buffer; key: Buffer; ca: Buffer };

/** What authenticates this side, or SALVOR_BAD_INPUT when the options authenticate nobody. */
function authOf(options: LinkOptions): Auth {
  if (options.psk !== undefined) {
    if (!Buffer.isBuffer(options.psk) || options.psk.length < MIN_PSK_BYTES) throw new SalvorError('SALVOR_BAD_INPUT', `psk must be a Buffer of at least ${MIN_PSK_BYTES} bytes`);
    return { kind: 'psk', psk: options.psk, identity: options.identity ?? DEFAULT_IDENTITY };
  }
  if (options.tls !== undefined) {
    const { cert, key, ca } = options.tls;
    if (!cert?.length || !key?.length || !ca?.length) throw new SalvorError('SALVOR_BAD_INPUT', 'tls needs cert, key and ca (PEM)');
    return { kind: 'certs', cert, key, ca };
  }
  throw new SalvorError('SALVOR_BAD_INPUT', 'a pre-shared key or certificates are required (options.psk or options.tls): salvor never carries unauthenticated peer traffic');
}

/** The TLS settings of a PSK link (the transport benchmark gives Node's own TLS socket the same). */
export const PSK_TLS = { ciphers: PSK_CIPHERS, minVersion: 'TLSv1.2', maxVersion: 'TLSv1.3', honorCipherOrder: true } as const;

/**
 * Certificates: Node's default suites, with TLS 1.3's AES-128-GCM preferred (AES-NI; cheaper per byte
 * than AES-256-GCM); the set of suites offered is Node's, unchanged.
 */
const CERT_CIPHERS = ['TLS_AES_128_GCM_SHA256', ...tls.DEFAULT_CIPHERS.split(':').filter((c) => c !== 'TLS_AES_128_GCM_SHA256')].join(':');

/** The identity each PSK client announced, for the server's logs. */
const pskIdentities = new WeakMap<tls.TLSSocket, string>();

function serverTls(auth: Auth): tls.TlsOptions {
  // One key for every peer: the identity names the peer in logs; the key is what authenticates.
  if (auth.kind === 'psk')
    return {
      ...PSK_TLS,
      pskCallback: (socket, identity) => {
        pskIdentities.set(socket, identity);
        return auth.psk;
      },
    };
  return { cert: auth.cert, key: auth.key, ca: auth.ca, ciphers: CERT_CIPHERS, honorCipherOrder: true, minVersion: 'TLSv1.2', requestCert: true, rejectUnauthorized: true };
}

function clientTls(auth: Auth): tls.ConnectionOptions {
  if (auth.kind === 'psk') return { ...PSK_TLS, pskCallback: () => ({ psk: auth.psk, identity: auth.identity }), checkServerIdentity: () => undefined };
  return { cert: auth.cert, key: auth.key, ca: auth.ca, ciphers: CERT_CIPHERS, minVersion: 'TLSv1.2', rejectUnauthorized: true };
}

function timeoutOf(options: LinkOptions): number {
  const t = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (!Number.isFinite(t) || t <= 0) throw new SalvorError('SALVOR_BAD_INPUT', `timeoutMs ${t} is not a positive number of milliseconds`);
  return t;
}



class TcpListener implements Listener {
  private handlers: ((link: Link) => void)[] = [];
  private waiting: Link[] = [];
  /** Connections not yet links (handshake or hello in progress), dropped by close(). */
  private pending = new Set<net.Socket>();
  private closed = false;

  constructor(
    readonly url: string,
    private readonly server: tls.Server,
    private readonly options: LinkOptions,
  ) {
    const log = options.log ?? (() => {});
    // Node forgets a destroyed TLS socket's address; the raw socket's, noted on arrival, names the peer.
    const peers = new WeakMap<net.Socket, string>();
    const peerName = (socket: tls.TLSSocket) =>
      peerOf(socket) ?? peers.get((socket as unknown as { _parent?: net.Socket })._parent ?? socket) ?? 'unknown peer';
    server.on('connection', (raw: net.Socket) => {
      peers.set(raw, peerOf(raw) ?? 'unknown peer');
      this.pending.add(raw);
      raw.once('close', () => this.pending.delete(raw));
    });
    server.on('tlsClientError', (err: Error, socket: tls.TLSSocket) => {
      const reason = socket.authorizationError ? `its certificate was refused: ${String(socket.authorizationError)}` : `TLS handshake failed: ${reasonOf(err)}`;
      log({ event: 'auth-refused', side: 'server', peer: peerName(socket), reason });
      socket.destroy();
    });
    server.on('secureConnection', (socket: tls.TLSSocket) => void this.accept(socket, peerName(socket), log));
    server.on('error', (err) => log({ event: 'listener-error', url: this.url, reason: reasonOf(err) }));
  }

  private async accept(socket: tls.TLSSocket, peer: string, log: LogLine): Promise<void> {
    if (this.closed) return void socket.destroy();
    let faults: LinkFaultInjector | undefined;
    try {
      faults = linkFaultsFromEnv();
    } catch (err) {
      log({ event: 'link-refused', side: 'server', peer, reason: (err as Error).message });
      return void socket.destroy();
    }
    this.pending.add(socket);
    socket.setKeepAlive(true, timeoutOf(this.options));
    socket.setNoDelay(true);
    const link = new SocketLink(socket, this.url, peer, { faults, log: this.options.log, timeoutMs: timeoutOf(this.options), encrypted: true, frameLimit: this.options.frameLimit });
    try {
      await link.hello();
    } catch (err) {
      const why = (err as SalvorError).code === 'SALVOR_TIMEOUT' ? 'sent no hello after the TLS handshake' : `left after the TLS handshake, before its hello (${reasonOf(err)})`;
      if (!this.closed) log({ event: 'auth-refused', side: 'server', peer, reason: `the peer ${why}: it refused our certificate, or is not salvor` });
      return;
    } finally {
      this.pending.delete(socket);
    }
    if (this.closed) return void link.close();
    log({ event: 'link-up', side: 'server', peer, identity: pskIdentities.get(socket) ?? socket.getPeerCertificate()?.subject?.CN });
    if (this.handlers.length === 0) this.waiting.push(link);
    for (const h of this.handlers) h(link);
  }

  onLink(handler: (link: Link) => void): void {
    this.handlers.push(handler);
    const waiting = this.waiting;
    this.waiting = [];
    for (const link of waiting) handler(link);
  }

  /** Stops accepting; drops connections still authenticating and links no handler took. Links handed out stay open. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const socket of this.pending) socket.destroy();
    const waiting = this.waiting;
    this.waiting = [];
    this.server.close();
    await Promise.all(waiting.map((l) => l.close()));
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

async function listen(url: URL, options: LinkOptions): Promise<Listener> {
  const { host, port } = parseTcpUrl(url, true);
  const settings = serverTls(authOf(options));
  const timeoutMs = timeoutOf(options);
  parseLinkFaults(process.env); // a malformed plan fails here, not at the first peer
  const server = tls.createServer({ ...settings, handshakeTimeout: timeoutMs });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(SalvorError.fromNode(err, formatTcpUrl(host, port))));
    server.listen(port, host, () => resolve());
  });
  server.removeAllListeners('error');
  return new TcpListener(formatTcpUrl(host, (server.address() as net.AddressInfo).port), server, options);
}

async function connect(url: URL, options: LinkOptions): Promise<Link> {
  const { host, port } = parseTcpUrl(url, false);
  const settings = clientTls(authOf(options));
  const timeoutMs = timeoutOf(options);
  const faults = linkFaultsFromEnv();
  const target = formatTcpUrl(host, port);
  const log = options.log ?? (() => {});
  const refused = (reason: string) => {
    log({ event: 'auth-refused', side: 'client', peer: target, reason });
    return new SalvorError('SALVOR_AUTH', `${target}: authentication failed: ${reason} (the peer's key or certificate does not match ours, or it is not salvor)`, { path: target });
  };
  const started = Date.now();
  const socket = await new Promise<tls.TLSSocket>((resolve, reject) => {
    let tcpUp = false;
    let settled = false;
    const socket = tls.connect({ ...settings, host, port, servername: net.isIP(host) ? undefined : host });
    // The first outcome wins: a refused connection also closes the socket, and that close is not a handshake refusal.
    const fail = (err: () => SalvorError) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      reject(err());
    };
    const timer = setTimeout(() => fail(() => new SalvorError('SALVOR_TIMEOUT', `${target}: no TLS connection after ${timeoutMs} ms`, { path: target })), timeoutMs);
    socket.once('connect', () => (tcpUp = true));
    // Before TCP is up: no one listens (ECONNREFUSED), no route, ... After: the handshake failed: wrong
    // key or certificate on one side, or no salvor there.
    socket.once('error', (err) => fail(() => (tcpUp ? refused(`TLS handshake: ${reasonOf(err)}`) : SalvorError.fromNode(err, target))));
    socket.once('close', () => fail(() => (tcpUp ? refused('the peer closed the connection during the TLS handshake') : new SalvorError('ECONNRESET', `${target}: the connection closed before it was set up`, { path: target }))));
    socket.once('secureConnect', () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.removeAllListeners('error');
      socket.removeAllListeners('close');
      resolve(socket);
    });
  });
  socket.setKeepAlive(true, timeoutMs);
  socket.setNoDelay(true);
  const link = new SocketLink(socket, target, peerOf(socket) ?? target, { faults, log: options.log, timeoutMs, encrypted: true, frameLimit: options.frameLimit });
  try {
    await link.hello(Math.max(1, timeoutMs - (Date.now() - started)));
  } catch (err) {
    if ((err as SalvorError).code === 'SALVOR_TIMEOUT') throw new SalvorError('SALVOR_TIMEOUT', `${target}: no hello from the server within ${timeoutMs} ms`, { path: target });
    throw refused(`the server left after the TLS handshake, before its hello (${reasonOf(err)})`);
  }
  return link;
}

export const tcpTransport: TransportBackend = { schemes: ['tcp'], listen, connect };
