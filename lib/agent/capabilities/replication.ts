import { randomBytes } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { SalvorError } from '../../../bindings/salvor-error';
import type { ReplicationEvent } from '../../replication/primary';
import { runPrimary, runStandby, type ReplicateSettings } from '../../replication/replicate-runner';
import type { TrackedRegion } from '../../replication/tracked-region';
import type { LinkOptions, TransportBackend } from '../../transport/link';
import { readPskFile } from '../../transport/psk-file';
import type { Capability, CapabilityContext, RunningCapability } from '../capability';
import type { ReplicationConfig } from '../config-schema';

export interface ReplicationDeps {
  transports: TransportBackend[];
  openRegion: (path: string) => Promise<TrackedRegion>;
  /** Mutual-TLS material when no pskFile is configured. */
  tlsCertificates: () => { cert: Buffer; key: Buffer; ca: Buffer };
  /** The local pair's stand-in application (platform/sim): starts writing the region file, returns its stop. */
  simulatedWriter: (path: string, size: number, intervalMs: number) => () => Promise<void>;
}

async function ensurePsk(path: string): Promise<Buffer> {
  if (!existsSync(path)) await writeFile(path, randomBytes(32).toString('hex') + '\n', { mode: 0o600 });
  return readPskFile(path, 'the local pair key');
}

/** A region file of `size` bytes (random contents the first time: a stand-in application state). */
async function ensureRegion(path: string, size: number): Promise<void> {
  if (existsSync(path) && statSync(path).size === size) return;
  await writeFile(path, randomBytes(size), { mode: 0o600 });
}

interface PairState {
  epoch: number;
  term: string;
  inSync: Record<string, boolean>;
  lagMs: Record<string, number>;
  ackedEpoch: Record<string, number>;
  role: string;
  url: string | null;
}

/**
 * Replication under the daemon. local-pair (the embedded default): a primary serving a region file
 * under the state directory on a loopback port and a standby replica beside it, each with a node state
 * of its own, over TLS with a generated pre-shared key; a simulated writer keeps changing the region.
 * primary / standby: one node of a real pair, as `salvor replicate primary|standby` runs it.
 */
export function replicationCapability(cfg: ReplicationConfig, deps: ReplicationDeps): Capability {
  return {
    name: 'replication',
    configKey: JSON.stringify(cfg),
    async start(ctx: CapabilityContext): Promise<RunningCapability> {
      const dir = join(ctx.stateDir, 'replication');
      await mkdir(dir, { recursive: true });
      const link: LinkOptions = { identity: hostname(), timeoutMs: cfg.timeoutMs, log: (line) => (/refused|error|fail/.test(String(line.event)) ? ctx.log.warn(line, String(line.event)) : ctx.log.info(line, String(line.event ?? 'link'))) };
      if (cfg.pskFile) link.psk = await readPskFile(cfg.pskFile, 'replication.pskFile');
      else if (cfg.role === 'local-pair') link.psk = await ensurePsk(join(dir, 'psk'));
      else link.tls = deps.tlsCertificates();

      const state: PairState = { epoch: 0, term: '0', inSync: {}, lagMs: {}, ackedEpoch: {}, role: cfg.role, url: null };
      let stopRun!: () => void;
      const stop = new Promise<void>((r) => (stopRun = r));
      const settings = (sub: string, identity: string): ReplicateSettings => ({ stateDir: join(dir, sub), intervalMs: cfg.intervalMs, timeoutMs: cfg.timeoutMs, identity, openRegion: deps.openRegion, stop });
      const onEvent = (side: string) => (e: ReplicationEvent) => {
        if (e.event === 'epoch') {
          const epoch = Number(e.epoch);
          if (side === 'primary' && e.acked && typeof e.lagMs === 'number') {
            const who = String(e.standby ?? 'standby');
            state.lagMs[who] = e.lagMs;
            state.ackedEpoch[who] = epoch;
            ctx.metrics.replicationLagMs.set({ standby: who }, e.lagMs);
          }
          if (epoch > state.epoch) state.epoch = epoch;
          ctx.metrics.replicationEpoch.set({ role: side }, epoch);
          return;
        }
        if (e.event === 'serving') {
          state.url = String(e.url);
          state.term = String(e.term);
        }
        if (e.event === 'in-sync') {
          const who = side === 'primary' ? String(e.standby) : 'self';
          state.inSync[who] = true;
          ctx.metrics.replicationInSync.set({ standby: who }, 1);
        }
        if (e.event === 'standby-lost' || e.event === 'standby-gone') {
          state.inSync[String(e.standby)] = false;
          ctx.metrics.replicationInSync.set({ standby: String(e.standby) }, 0);
        }
        if (e.event !== 'round') ctx.event({ ...e, side });
      };

      const runs: Promise<unknown>[] = [];
      let stopWriter: (() => Promise<void>) | undefined;
      if (cfg.role === 'local-pair') {
        const region = cfg.region ?? join(dir, 'region.bin');
        await ensureRegion(region, cfg.regionSize);
        let served!: (url: string) => void;
        const serving = new Promise<string>((r) => (served = r));
        const primaryEvents = onEvent('primary');
        const primary = runPrimary(
          { region, listen: ['tcp://127.0.0.1:0'], ackMode: cfg.ack, maxDowntimeMs: cfg.maxDowntimeMs, maxRounds: cfg.maxRounds, link },
          settings('primary', 'local-primary'),
          deps.transports,
          (e) => {
            if (e.event === 'serving') served(String(e.url));
            primaryEvents(e);
          },
        );
        runs.push(primary);
        const url = await Promise.race([serving, primary.then(() => Promise.reject(new SalvorError('SALVOR_REPLICATION', 'the local primary ended before serving')))]);
        runs.push(runStandby({ connect: [url], replica: cfg.replica ?? join(dir, 'replica.bin'), link, ackMode: cfg.ack }, settings('standby', 'local-standby'), deps.transports, onEvent('standby')));
        if (cfg.simulatedWriter) stopWriter = deps.simulatedWriter(region, cfg.regionSize, cfg.intervalMs);
      } else if (cfg.role === 'primary') {
        if (!cfg.region || !cfg.listen) throw new SalvorError('SALVOR_BAD_CONFIG', 'capabilities.replication: role primary needs region and listen');
        runs.push(runPrimary({ region: cfg.region, listen: cfg.listen, ackMode: cfg.ack, maxDowntimeMs: cfg.maxDowntimeMs, maxRounds: cfg.maxRounds, link }, settings('node', hostname()), deps.transports, onEvent('primary')));
      } else {
        if (!cfg.replica || !cfg.connect) throw new SalvorError('SALVOR_BAD_CONFIG', 'capabilities.replication: role standby needs replica and connect');
        runs.push(runStandby({ connect: cfg.connect, replica: cfg.replica, link, ackMode: cfg.ack }, settings('node', hostname()), deps.transports, onEvent('standby')));
      }

      let stopping = false;
      // Any node run that ends while we are not stopping is a failure the supervisor restarts.
      const done = Promise.race(runs).then((why) => {
        if (!stopping) throw new SalvorError('SALVOR_REPLICATION', `a replication node ended (${String(why)})`);
      });
      done.catch(() => undefined);
      let lastEpoch = -1;
      let lastEpochAt = Date.now();
      return {
        done,
        health() {
          // Only the local pair is sure to see epochs all the time; a lone primary or a waiting standby is healthy idle.
          if (cfg.role !== 'local-pair') return { ok: true };
          if (state.epoch !== lastEpoch) {
            lastEpoch = state.epoch;
            lastEpochAt = Date.now();
          }
          const stale = Date.now() - lastEpochAt;
          return stale > Math.max(10 * cfg.intervalMs, 3 * cfg.timeoutMs) ? { ok: false, detail: `no epoch for ${stale} ms` } : { ok: true };
        },
        status: () => ({ ...state }),
        async stop() {
          stopping = true;
          await stopWriter?.();
          stopRun();
          await Promise.allSettled(runs);
        },
      };
    },
  };
}
