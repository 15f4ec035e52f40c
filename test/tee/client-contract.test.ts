import t from 'tap';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SimTeeClient } from '../../platform/sim/sim-tee-client';
import { teeClientContract } from './client-contract';

// The TeeClient contract against the simulated TEE OS, and against /dev/tee0 where a TEE exists.

t.test('simulated TEE OS', async (t) => {
  const dirs: string[] = [];
  t.teardown(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
  teeClientContract(t, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'salvor-tee-'));
    dirs.push(dir);
    return SimTeeClient.open(dir);
  });
});

t.test('Linux /dev/tee0', async (t) => {
  if (!existsSync('/dev/tee0')) {
    t.skip('no /dev/tee0 on this machine (no TEE driver): the Linux backend is checked through the ioctl shim in linux-ioctl.test.ts');
    return;
  }
  const { LinuxTeeClient } = await import('../../platform/linux/linux-tee-client');
  teeClientContract(t, () => LinuxTeeClient.open({ device: '/dev/tee0' }));
});
