import { existsSync, unlinkSync } from 'node:fs';
import { chmod } from 'node:fs/promises';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { SalvorError } from '../../bindings/salvor-error';

/** One request a line, one JSON answer a line: {"cmd":"status"} -> {"ok":true,...} or {"ok":false,"error":...}. */
export type ControlHandler = (request: { cmd: string; [k: string]: unknown }) => Promise<Record<string, unknown>>;

export interface ControlSocketOptions {
  path: string;
  handler: ControlHandler;
  /** The peer's credentials (SO_PEERCRED): only our own uid and root are answered. */
  credentials: (socket: Socket) => { pid: number; uid: number; gid: number };
  log: (line: Record<string, unknown>, msg: string) => void;
  /** How long a client may take to send its request line before it is closed (default 5000 ms). */
  requestTimeoutMs?: number;
}

/**
 * The control socket the CLI talks to a running daemon through: a unix stream socket of mode 0600 in
 * the state directory, and a check of the peer's uid before anything is read (the mode alone does not
 * hold against a process that got the socket some other way).
 */
export async function listenControl(o: ControlSocketOptions): Promise<Server> {
  // The caller holds the state directory's lock, so a socket file left there is from a dead daemon.
  if (existsSync(o.path)) unlinkSync(o.path);
  const allowed = new Set([0, process.getuid?.() ?? 0]);
  const server = createServer((socket) => {
    let peer: { pid: number; uid: number };
    try {
      peer = o.credentials(socket);
    } catch (err) {
      o.log({ event: 'control-refused', reason: (err as Error).message }, 'control socket: cannot read peer credentials');
      socket.destroy();
      return;
    }
    if (!allowed.has(peer.uid)) {
      o.log({ event: 'control-refused', peerUid: peer.uid, peerPid: peer.pid }, `control socket: refused uid ${peer.uid} (pid ${peer.pid})`);
      socket.end(JSON.stringify({ ok: false, error: { code: 'EACCES', message: `uid ${peer.uid} may not control this daemon` } }) + '\n');
      return;
    }
    let buffered = '';
    socket.setEncoding('utf8');
    socket.on('error', () => undefined);
    // A client that never finishes its request line would hold the connection (and a file descriptor) forever.
    socket.setTimeout(o.requestTimeoutMs ?? 5000, () => {
      o.log({ event: 'control-timeout', peerUid: peer.uid, peerPid: peer.pid, timeoutMs: o.requestTimeoutMs ?? 5000 }, `control socket: no request line from pid ${peer.pid}; closed`);
      socket.destroy();
    });
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      if (buffered.length > 65536) socket.destroy();
      const nl = buffered.indexOf('\n');
      if (nl < 0) return;
      socket.setTimeout(0); // the request is in; the answer may take as long as the command does
      const line = buffered.slice(0, nl);
      buffered = '';
      let request: { cmd: string };
      try {
        request = JSON.parse(line) as { cmd: string };
        if (typeof request?.cmd !== 'string') throw new Error('no "cmd"');
      } catch (err) {
        socket.end(JSON.stringify({ ok: false, error: { code: 'SALVOR_BAD_INPUT', message: `bad request: ${(err as Error).message}` } }) + '\n');
        return;
      }
      o.handler(request).then(
        (answer) => socket.end(JSON.stringify({ ok: true, ...answer }) + '\n'),
        (err: SalvorError) => socket.end(JSON.stringify({ ok: false, error: { code: err.code ?? 'SALVOR_ERROR', message: err.message } }) + '\n'),
      );
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(SalvorError.fromNode(err, o.path)));
    server.listen(o.path, () => resolve());
  });
  await chmod(o.path, 0o600);
  return server;
}

/** Sends one request to a daemon's control socket and returns its answer. */
export function requestControl(path: string, request: Record<string, unknown>, timeoutMs = 5000): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(path);
    let text = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new SalvorError('ETIMEDOUT', `the daemon on ${path} did not answer within ${timeoutMs} ms`, { path }));
    }, timeoutMs);
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(JSON.stringify(request) + '\n'));
    socket.on('data', (d: string) => (text += d));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(new SalvorError(err.code ?? 'SALVOR_IO', `no salvor daemon answers on ${path}: ${err.message}`, { path }));
    });
    socket.on('end', () => {
      clearTimeout(timer);
      try {
        const answer = JSON.parse(text) as Record<string, unknown>;
        if (answer.ok === false) {
          const e = answer.error as { code: string; message: string };
          reject(new SalvorError(e.code, e.message, { path }));
        } else resolve(answer);
      } catch {
        reject(new SalvorError('SALVOR_IO', `the daemon on ${path} answered with something that is not JSON`, { path }));
      }
    });
  });
}
