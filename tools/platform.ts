import { resolve } from 'node:path';
import type { CliPlatform } from '../lib/cli/platform';
import { openKernelNvramDevice } from '../platform/linux/nvram-device';
import { faultPlanFromEnv, withFaults } from '../platform/sim/faulty-device';

/** Composition root: picks the backends for this process. Fault injection comes from SALVOR_FAULT. */
export function cliPlatform(env: NodeJS.ProcessEnv = process.env): CliPlatform {
  const plan = faultPlanFromEnv(env);
  return {
    openNvramDevice: async (path, options) => {
      const device = await openKernelNvramDevice(path, options);
      return plan ? withFaults(device, plan) : device;
    },
    stateDir: resolve(env.SALVOR_STATE_DIR || 'var'),
  };
}
