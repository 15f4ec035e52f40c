import { resolve } from 'node:path';
import type { CliPlatform } from '../lib/cli/platform';
import { openKernelNvramDevice } from '../platform/linux/nvram-device';
import { faultPlanFromEnv, withFaults } from '../platform/sim/faulty-device';

/** Composition root: picks the backends for this process. Fault injection comes from SALVOR_FAULT. */
export function cliPlatform(env: NodeJS.ProcessEnv = process.env): CliPlatform {
  return {
    openNvramDevice: async (path, options) => {
      const plan = faultPlanFromEnv(env); // a malformed SALVOR_FAULT fails the command (exit 16), not the CLI's start
      const device = await openKernelNvramDevice(path, options);
      return plan ? withFaults(device, plan) : device;
    },
    stateDir: resolve(env.SALVOR_STATE_DIR || 'var'),
  };
}
