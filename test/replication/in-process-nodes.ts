import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openRegion } from '../../index';
import type { ReplicationEvent } from '../../lib/replication/primary';
import { runPrimary, runStandby } from '../../lib/replication/replicate-runner';
import type { LinkOptions } from '../../lib/transport/link';
import { tcpTransport } from '../../platform/linux/transport-tcp';

/**
 * Replication nodes run in the test's own process, over real TLS on loopback: what `salvor replicate`
 * runs, without a process start per node where a separate process proves nothing more.
 */

export const KEY = Buffer.from('in-process replication test key, 32+ bytes');
export const FAST = { intervalMs: 50, timeoutMs: 600 };

type Teardown = { teardown: (fn: () => unknown) => void };

export interface Node {
  events: ReplicationEvent[];
  /** Settles when the node's run ends (after stop(), a demotion, or an error). */
  run: Promise<string>;
  stop(): Promise<void>;
  waitFor(pred: (e: ReplicationEvent) => boolean, ms?: number): Promise<ReplicationEvent>;
}

function node(t: Teardown, start: (stop: Promise<void>, emit: (e: ReplicationEvent) => void) => Promise<string>): Node {
  const events: ReplicationEvent[] = [];
  const waiters = new Set<() => void>();
  let release!: () => void;
  const stopped = new Promise<void>((r) => (release = r));
  const run = start(stopped, (e) => {
    events.push(e);
    for (const w of [...waiters]) w();
  });
  run.catch(() => undefined);
  const stop = async () => {
    release();
    await run.catch(() => undefined);
  };
  t.teardown(stop);
  return {
    events,
    run,
    stop,
    waitFor(pred, ms = 20000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const hit = events.find(pred);
          if (!hit) return;
          waiters.delete(check);
          clearTimeout(timer);
          resolve(hit);
        };
        const timer = setTimeout(() => (waiters.delete(check), reject(new Error(`timed out; last events: ${events.slice(-30).map((e) => e.event).join(',')}`))), ms);
        waiters.add(check);
        check();
        void run.then(
          // a node that stopped first (the loser of a race of two waits) leaves its wait pending, without a timer
          () => (waiters.delete(check), clearTimeout(timer)),
          (err: Error) => (waiters.delete(check), clearTimeout(timer), reject(err)),
        );
      });
    },
  };
}

export function tempDir(t: Teardown, name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `salvor-${name}-`));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A primary serving a fresh random region of `pages` pages on an ephemeral loopback port. */
export function primaryNode(t: Teardown, dir: string, pages: number, o: { link?: Partial<LinkOptions>; listen?: string; region?: string } = {}): Node & { region: string } {
  const region = o.region ?? join(dir, 'region.bin');
  if (!o.region) writeFileSync(region, randomBytes(pages * 4096));
  const n = node(t, (stop, emit) =>
    runPrimary(
      { region, listen: [o.listen ?? 'tcp://127.0.0.1:0'], ackMode: 'received', maxDowntimeMs: 300, maxRounds: 30, link: { psk: KEY, identity: 'p', timeoutMs: FAST.timeoutMs, ...o.link } },
      { stateDir: join(dir, 'p'), ...FAST, identity: 'p', openRegion: (path) => openRegion({ path }), stop },
      [tcpTransport],
      emit,
    ),
  );
  return { ...n, region };
}

/** A standby of the primary at `url`, keeping its replica at `replica`. */
export function standbyNode(t: Teardown, dir: string, url: string, replica: string, o: { identity?: string; link?: Partial<LinkOptions>; force?: boolean } = {}): Node {
  const identity = o.identity ?? 's';
  return node(t, (stop, emit) =>
    runStandby(
      { connect: [url], replica, force: o.force, link: { psk: KEY, identity, timeoutMs: FAST.timeoutMs, ...o.link } },
      { stateDir: join(dir, identity), ...FAST, identity, openRegion: (path) => openRegion({ path }), stop },
      [tcpTransport],
      emit,
    ),
  );
}

/** The URL a primary node serves on, once it serves. */
export async function servingUrl(p: Node): Promise<string> {
  return String((await p.waitFor((e) => e.event === 'serving')).url);
}
