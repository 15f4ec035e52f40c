import type { Socket } from 'node:net';
import { addon, callNative } from './addon';

/**
 * Sends one message to the service manager's notify socket ($NOTIFY_SOCKET), as sd_notify(3) does:
 * READY=1, WATCHDOG=1, STATUS=..., STOPPING=1, RELOADING=1. Returns false when not run by one.
 */
export function sdNotify(message: string, env: NodeJS.ProcessEnv = process.env): boolean {
  const path = env.NOTIFY_SOCKET;
  if (!path) return false;
  callNative(() => addon().notifySocket(path, message), path);
  return true;
}

/** The pid, uid and gid of the process at the other end of a connected unix socket (SO_PEERCRED). */
export function peerCredentials(socket: Socket): { pid: number; uid: number; gid: number } {
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) throw new Error('the socket has no file descriptor');
  return callNative(() => addon().peerCredentials(fd));
}
