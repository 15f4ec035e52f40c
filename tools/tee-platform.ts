import { join } from 'node:path';
import type { TeeConfig } from '../lib/agent/config-schema';
import type { TeeClient } from '../lib/tee/client';
import { LinuxTeeClient } from '../platform/linux/linux-tee-client';
import { SimTeeClient } from '../platform/sim/sim-tee-client';

/** The TEE backend for the config: the simulated TEE OS (secure storage in STATE/tee/sim), or the TEE driver. */
export async function openTeeClient(cfg: TeeConfig, stateDir: string): Promise<TeeClient> {
  if (cfg.backend === 'sim') return SimTeeClient.open(join(stateDir, 'tee', 'sim'));
  return LinuxTeeClient.open(cfg.linux);
}
