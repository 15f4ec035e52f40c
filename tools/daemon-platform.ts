import { join } from 'node:path';
import { peerCredentials, sdNotify } from '../bindings/service';
import { leakCapability } from '../lib/agent/capabilities/leak';
import { nvramCapability } from '../lib/agent/capabilities/nvram';
import { replicationCapability } from '../lib/agent/capabilities/replication';
import { teeCapability } from '../lib/agent/capabilities/tee';
import type { Capability } from '../lib/agent/capability';
import type { AgentConfig } from '../lib/agent/config-schema';
import type { DaemonPlatform } from '../lib/agent/daemon';
import type { CliPlatform } from '../lib/cli/platform';
import { ProcMemorySource } from '../platform/linux/proc-memory';
import { openTeeClient } from './tee-platform';

const { version } = require('../../package.json') as { version: string };

/** The daemon's backends: each enabled capability on this machine's devices (simulated where missing). */
export function daemonPlatform(cli: Omit<CliPlatform, 'daemonPlatform'>, env: NodeJS.ProcessEnv = process.env): DaemonPlatform {
  return {
    version,
    env,
    notify: (message) => sdNotify(message, env),
    credentials: peerCredentials,
    capabilities(config: AgentConfig): Capability[] {
      const c = config.capabilities;
      const caps: Capability[] = [];
      if (c.nvram.enabled) caps.push(nvramCapability(c.nvram, { openDevice: cli.openNvramDevice, simulatedDefaults: join(__dirname, '..', '..', 'platform', 'sim', 'default-nvram.json') }));
      if (c.replication.enabled) caps.push(replicationCapability(c.replication, { transports: cli.transports, openRegion: cli.openRegion, tlsCertificates: cli.tlsCertificates }));
      if (c.leak.enabled) caps.push(leakCapability(c.leak, { source: () => new ProcMemorySource() }));
      if (c.tee.enabled) caps.push(teeCapability(c.tee, { openClient: openTeeClient }));
      return caps;
    },
  };
}
