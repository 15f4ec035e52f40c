import { join } from 'node:path';
import { SalvorError } from '../bindings/salvor-error';
import type { TeeConfig } from '../lib/agent/config-schema';
import type { TeeClient } from '../lib/tee/client';
import { SimTeeClient } from '../platform/sim/sim-tee-client';

/** The TEE backend for the config: the simulated TEE OS (secure storage in STATE/tee/sim), or /dev/teeN. */
export async function openTeeClient(cfg: TeeConfig, stateDir: string): Promise<TeeClient> {
  if (cfg.backend === 'sim') return SimTeeClient.open(join(stateDir, 'tee', 'sim'));
  throw new SalvorError('SALVOR_TEE_UNAVAILABLE', `capabilities.tee.backend '${cfg.backend}': not available in this build`);
}
