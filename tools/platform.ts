import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { SalvorError } from '../bindings/salvor-error';
import { openRegion } from '../index';
import type { CliPlatform } from '../lib/cli/platform';
import { openKernelNvramDevice } from '../platform/linux/nvram-device';
import { ProcMemorySource } from '../platform/linux/proc-memory';
import { serialTransport } from '../platform/linux/transport-serial';
import { tcpTransport } from '../platform/linux/transport-tcp';
import { faultPlanFromEnv, withFaults } from '../platform/sim/faulty-device';
import { daemonPlatform } from './daemon-platform';

/** Composition root: picks the backends for this process. Fault injection comes from SALVOR_FAULT. */
export function cliPlatform(env: NodeJS.ProcessEnv = process.env): CliPlatform {
  const stateDir = resolve(env.SALVOR_STATE_DIR || 'var');
  const platform: CliPlatform = {
    openNvramDevice: async (path, options) => {
      const plan = faultPlanFromEnv(env); // a malformed SALVOR_FAULT fails the command (exit 16), not the CLI's start
      const device = await openKernelNvramDevice(path, options);
      return plan ? withFaults(device, plan) : device;
    },
    stateDir,
    transports: [tcpTransport, serialTransport],
    leakMemorySource: () => new ProcMemorySource({ v8HeapDir: join(stateDir, 'leak', 'v8-heap') }),
    openRegion: (path) => openRegion({ path }),
    tlsCertificates: () => {
      const dir = join(stateDir, 'tls');
      try {
        return { cert: readFileSync(join(dir, 'cert.pem')), key: readFileSync(join(dir, 'key.pem')), ca: readFileSync(join(dir, 'ca.pem')) };
      } catch (e) {
        throw new SalvorError('SALVOR_BAD_INPUT', `no --psk-file, and no certificates in ${dir} (cert.pem, key.pem, ca.pem): ${(e as Error).message}`, { path: dir });
      }
    },
    daemonPlatform: () => daemonPlatform(platform, env),
  };
  return platform;
}
