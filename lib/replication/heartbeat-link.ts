import { setTimeout as sleep } from 'node:timers/promises';
import type { Link } from '../transport/link';
import { ReconnectBackoff } from './reconnect-backoff';
import { encodeMessage, Msg, type Hello } from './protocol';
import type { ReplicationEvent } from './primary';

export interface HeartbeatLinkOptions {
  /** The URL, for events. */
  url: string;
  connect: () => Promise<Link>;
  identity: string;
  intervalMs: number;
  timeoutMs: number;
  /** The term and epoch this node holds now (sent in every heartbeat). */
  held: () => { term: bigint; epoch: number };
  emit: (e: ReplicationEvent) => void;
}

/**
 * A second (third, ...) link to the primary that carries only heartbeats: a standby with a TCP data
 * link and a serial heartbeat link tells a dead primary (every link silent) from a broken data path
 * (the serial line still hears it) and promotes only on the first. It reconnects on its own, and keeps
 * the time it last heard the primary and the highest term it saw.
 */
export class HeartbeatLink {
  /** When a frame from the primary last arrived on this link (0: never). */
  lastHeard = 0;
  highestTerm = 0n;
  private link: Link | undefined;
  private up = false;
  private stopped = false;
  private readonly running: Promise<void>;

  constructor(private readonly o: HeartbeatLinkOptions) {
    this.running = this.loop();
  }

  private async loop(): Promise<void> {
    const backoff = new ReconnectBackoff(50, 1000);
    while (!this.stopped) {
      try {
        this.link = await this.o.connect();
        backoff.reset();
        await this.session(this.link);
      } catch (err) {
        if (this.up) this.o.emit({ event: 'link-down', url: this.o.url, role: 'heartbeat', reason: (err as Error).message });
        this.up = false;
      }
      if (this.stopped) return;
      await sleep(backoff.next());
    }
  }

  private session(link: Link): Promise<void> {
    return new Promise((resolve, reject) => {
      const beat = () => {
        if (this.up && Date.now() - this.lastHeard > this.o.timeoutMs) {
          void link.close();
          return;
        }
        const { term, epoch } = this.o.held();
        void link.send(Msg.heartbeat, encodeMessage({ epoch }), term).catch(() => undefined);
      };
      const timer = setInterval(beat, this.o.intervalMs);
      const connectedAt = Date.now();
      link.onFrame((f) => {
        this.lastHeard = Date.now();
        if (f.epoch > this.highestTerm) this.highestTerm = f.epoch;
        if (!this.up) {
          this.up = true;
          this.o.emit({ event: 'link-up', url: this.o.url, role: 'heartbeat', peer: link.peer });
        }
      });
      link.onClose((err) => {
        clearInterval(timer);
        if (this.stopped) resolve();
        else reject(err ?? new Error(`closed after ${Date.now() - connectedAt} ms`));
      });
      const { term, epoch } = this.o.held();
      const hello: Hello = { identity: this.o.identity, capabilities: ['heartbeat-only'], heldEpoch: epoch, heldTerm: term.toString(), regionSize: 0, pageSize: 0, hashes: false };
      link.send(Msg.hello, encodeMessage(hello), term).catch(() => void link.close());
    });
  }

  status(): Record<string, unknown> {
    return { url: this.o.url, role: 'heartbeat', up: this.up, lastHeardMsAgo: this.lastHeard ? Date.now() - this.lastHeard : null };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.link?.close().catch(() => undefined);
    await this.running;
  }
}
