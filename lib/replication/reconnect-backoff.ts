/**
 * The wait before a node tries a peer again: it doubles from `firstMs` up to `capMs`, and each wait is
 * drawn from its upper half (jitter), so standbys that lost the same primary do not retry in step.
 * reset() after a connection that worked.
 */
export class ReconnectBackoff {
  private nextMs: number;

  constructor(
    private readonly firstMs = 50,
    private readonly capMs = 1000,
    private readonly random: () => number = Math.random,
  ) {
    this.nextMs = firstMs;
  }

  /** The wait before the next attempt (and the one after it grows). */
  next(): number {
    const ms = this.nextMs;
    this.nextMs = Math.min(this.capMs, ms * 2);
    return Math.round(ms / 2 + (this.random() * ms) / 2);
  }

  reset(): void {
    this.nextMs = this.firstMs;
  }
}

/** A short name for why a connection attempt failed, for events (the error's message says the rest). */
export function connectionCause(err: unknown): string {
  const code = (err as { code?: string } | undefined)?.code;
  switch (code) {
    case 'ECONNREFUSED':
      return 'connection-refused';
    case 'SALVOR_AUTH':
      return 'handshake-refused';
    case 'SALVOR_TIMEOUT':
    case 'ETIMEDOUT':
      return 'timeout';
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'EADDRNOTAVAIL':
      return 'unreachable';
    case 'ECONNRESET':
    case 'EPIPE':
      return 'connection-reset';
    case 'SALVOR_BAD_FRAME':
      return 'bad-frame';
    case 'ENOENT':
    case 'EBUSY':
    case 'EACCES':
      return 'line-unavailable';
    default:
      return 'link-lost';
  }
}
