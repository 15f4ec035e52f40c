// The composition root: the one place that picks salvor's backends for this machine. The CLI
// (tools/salvor.ts), the daemon (through daemonPlatform) and the library entry (index.ts) all take
// their backends from machinePlatform(), so SALVOR_FAULT and the probed tracker choice apply alike.
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { SalvorError } from '../bindings/salvor-error';
import { peerCredentials, sdNotify } from '../bindings/service';
import type { Capability } from '../lib/agent/capability';
import type { AgentConfig } from '../lib/agent/config-schema';
import type { DaemonPlatform } from '../lib/agent/daemon';
import type { CliPlatform } from '../lib/cli/platform';
import { chooseDirtyTracking } from '../lib/doctor/backends';
import { kernelConfigOnce, probeTrackingOnce } from '../lib/doctor/facts';
import type { BackendChoice, TrackerKind } from '../lib/replication/dirty-tracker';
import { TrackedRegion, type TrackerDecisionEvent } from '../lib/replication/tracked-region';
import { openKernelNvramDevice } from '../platform/linux/nvram-device';
import { ProcMemorySource } from '../platform/linux/proc-memory';
import { linuxTrackerCosts, openLinuxMemory } from '../platform/linux/tracked-memory';
import { serialTransport } from '../platform/linux/transport-serial';
import { tcpTransport } from '../platform/linux/transport-tcp';
import { simulatedApplicationWriter } from '../platform/sim/application-writer';
import { faultPlanFromEnv, withFaults } from '../platform/sim/faulty-device';

export interface OpenRegionOptions {
  /** Anonymous memory owned by salvor (a whole number of the kernel's pages). */
  size?: number;
  /** A shared-memory or regular file (a whole number of pages), mapped shared; any process may write it. */
  path?: string;
  /** Tracker: 'auto' (default) or one of 'uffd-wp', 'soft-dirty', 'mprotect', 'hash'. */
  backend?: BackendChoice;
  /** Threads for the hash scan (default: up to 4). */
  hashThreads?: number;
  onDecision?: (event: TrackerDecisionEvent) => void;
}

/** Everything the composition root hands out: the CLI's backends plus the library's region opener. */
export interface MachinePlatform extends CliPlatform {
  openTrackedRegion(options: OpenRegionOptions): Promise<TrackedRegion>;
}

const TRACKER_CHOICES: BackendChoice[] = ['auto', 'uffd-wp', 'soft-dirty', 'mprotect', 'hash'];
const FAULT_KINDS: readonly TrackerKind[] = ['uffd-wp', 'mprotect'];

/**
 * The fault-based kinds auto may start with, best first, as doctor's dirty-tracking line judges the
 * one probe of this process: what doctor reports is what openRegion uses.
 */
function probedFaultKinds(): TrackerKind[] {
  const choice = chooseDirtyTracking({ ...probeTrackingOnce(), kernelConfig: kernelConfigOnce() });
  return choice.candidates.filter((c) => c.usable && FAULT_KINDS.includes(c.backend as TrackerKind)).map((c) => c.backend as TrackerKind);
}

async function openTrackedRegion(options: OpenRegionOptions): Promise<TrackedRegion> {
  if (options.backend !== undefined && !TRACKER_CHOICES.includes(options.backend))
    throw new SalvorError('SALVOR_BAD_INPUT', `backend '${String(options.backend)}' is not one of ${TRACKER_CHOICES.join(', ')}`);
  // Before any tracker exists: the probe clears this process's soft-dirty bits (once per process).
  const faultKinds = probedFaultKinds();
  const memory = openLinuxMemory(options);
  const costs = await linuxTrackerCosts();
  return TrackedRegion.open(memory, { backend: options.backend ?? 'auto', costs, faultKinds, onDecision: options.onDecision });
}

function tlsFrom(stateDir: string): { cert: Buffer; key: Buffer; ca: Buffer } {
  const dir = join(stateDir, 'tls');
  try {
    return { cert: readFileSync(join(dir, 'cert.pem')), key: readFileSync(join(dir, 'key.pem')), ca: readFileSync(join(dir, 'ca.pem')) };
  } catch (e) {
    throw new SalvorError('SALVOR_BAD_INPUT', `no --psk-file, and no certificates in ${dir} (cert.pem, key.pem, ca.pem): ${(e as Error).message}`, { path: dir });
  }
}

/** The daemon's backends: each enabled capability on this machine's devices (simulated where missing). */
function daemonPlatform(machine: MachinePlatform, env: NodeJS.ProcessEnv): DaemonPlatform {
  // Paths relative to the build (dist/tools/): read when a daemon starts, not when the library loads.
  const { version } = require('../../package.json') as { version: string };
  return {
    version,
    env,
    notify: (message) => sdNotify(message, env),
    credentials: peerCredentials,
    capabilities(config: AgentConfig): Capability[] {
      // Loaded here, not at the top: the library entry composes from this module too, and should not
      // load the daemon's capabilities (and their logging and metrics packages) with it.
      const { nvramCapability } = require('../lib/agent/capabilities/nvram') as typeof import('../lib/agent/capabilities/nvram');
      const { replicationCapability } = require('../lib/agent/capabilities/replication') as typeof import('../lib/agent/capabilities/replication');
      const { leakCapability } = require('../lib/agent/capabilities/leak') as typeof import('../lib/agent/capabilities/leak');
      const { teeCapability } = require('../lib/agent/capabilities/tee') as typeof import('../lib/agent/capabilities/tee');
      const { openTeeClient } = require('./tee-platform') as typeof import('./tee-platform');
      const c = config.capabilities;
      const caps: Capability[] = [];
      if (c.nvram.enabled)
        caps.push(nvramCapability(c.nvram, { openDevice: machine.openNvramDevice, simulatedDefaults: join(__dirname, '..', '..', 'platform', 'sim', 'default-nvram.json') }));
      if (c.replication.enabled)
        caps.push(
          replicationCapability(c.replication, {
            transports: machine.transports,
            openRegion: machine.openRegion,
            tlsCertificates: machine.tlsCertificates,
            simulatedWriter: simulatedApplicationWriter,
          }),
        );
      if (c.leak.enabled) caps.push(leakCapability(c.leak, { source: () => new ProcMemorySource() }));
      if (c.tee.enabled) caps.push(teeCapability(c.tee, { openClient: openTeeClient }));
      return caps;
    },
  };
}

/**
 * This machine's backends. Cheap to call: nothing is probed until a backend needs it, and the kernel
 * probe runs once per process. Fault injection comes from SALVOR_FAULT, read at each device open.
 */
export function machinePlatform(env: NodeJS.ProcessEnv = process.env): MachinePlatform {
  const stateDir = resolve(env.SALVOR_STATE_DIR || 'var');
  const platform: MachinePlatform = {
    openNvramDevice: async (path, options) => {
      const plan = faultPlanFromEnv(env); // a malformed SALVOR_FAULT fails the command (exit 16), not the CLI's start
      const device = await openKernelNvramDevice(path, options);
      return plan ? withFaults(device, plan) : device;
    },
    stateDir,
    transports: [tcpTransport, serialTransport],
    leakMemorySource: () => new ProcMemorySource({ v8HeapDir: join(stateDir, 'leak', 'v8-heap') }),
    openTrackedRegion,
    openRegion: (path) => openTrackedRegion({ path }),
    tlsCertificates: () => tlsFrom(stateDir),
    daemonPlatform: () => daemonPlatform(platform, env),
  };
  return platform;
}
