import t from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DeviceOpener } from '../../../lib/nvram/device';
import { openUbootStore } from '../../../lib/nvram/uboot/uboot-store';
import { withFaults, type FaultPlan } from '../../../platform/sim/faulty-device';
import { MemoryNvramDevice } from '../../../platform/sim/memory-device';
import { assertUbootTools, fwPrintenv, mkenvimage, writeConfig } from './uboot-tools';

t.test('U-Boot tools are installed', async (t) => assertUbootTools(t));

function opener(bytes: Buffer, plan?: FaultPlan): DeviceOpener {
  return async (path) => {
    const device = new MemoryNvramDevice(path, bytes);
    return plan ? withFaults(device, plan) : device;
  };
}

t.test('redundant: a power cut during any write leaves the old or the new environment, never none', async (t) => {
  const dir = t.testdir();
  const copy = readFileSync(mkenvimage(dir, 'copy.img', '0x200', ['step=0'], true));
  const cfg = writeConfig(dir, ['/dev/sim0 0 0x200', '/dev/sim0 0x200 0x200']);
  const image = join(dir, 'after.img');
  const fileCfg = writeConfig(dir, [`${image} 0 0x200`, `${image} 0x200 0x200`], 'file.cfg');
  for (let seed = 1; seed <= 40; seed++) {
    const bytes = Buffer.concat([copy, copy]);
    const cutAt = seed % 3; // cut during the 1st, 2nd or 3rd set
    const env = await openUbootStore(cfg, opener(bytes, { cutAfterWrites: cutAt, seed, mode: 'random', onCut: 'throw' }), { writable: true });
    let completed = 0;
    for (let step = 1; step <= 3; step++) {
      try {
        await env.set('step', { type: 'string', value: String(step) });
        completed = step;
      } catch (err) {
        t.equal((err as { code?: string }).code, 'SALVOR_POWER_CUT');
        break;
      }
    }
    await env.close();
    const after = await openUbootStore(cfg, opener(bytes), { writable: false });
    const report = await after.check();
    t.not(report.active, null, `seed ${seed}: a copy is still valid`);
    const step = (await after.get('step'))?.value;
    t.ok(step === String(completed) || step === String(completed + 1), `seed ${seed}: step ${step} after ${completed} completed writes`);
    await after.close();
    writeFileSync(image, bytes);
    t.equal(fwPrintenv(fileCfg).get('step'), step, `seed ${seed}: fw_printenv agrees`);
  }
});

t.test('single copy: a torn in-place write loses the environment (the format has no second copy)', async (t) => {
  const dir = t.testdir();
  const bytes = readFileSync(mkenvimage(dir, 'env.img', '0x200', ['step=0']));
  const cfg = writeConfig(dir, ['/dev/sim0 0 0x200']);
  const env = await openUbootStore(cfg, opener(bytes, { cutAfterWrites: 0, seed: 7, mode: 'garbage', onCut: 'throw' }), { writable: true });
  await t.rejects(env.set('step', { type: 'string', value: '1' }), { code: 'SALVOR_POWER_CUT' });
  await env.close();
  const after = await openUbootStore(cfg, opener(bytes), { writable: true, defaults: { step: 'default' } });
  t.teardown(() => after.close());
  t.match(await after.check(), { header: 'rebuilt-from-defaults', active: null });
  await after.recover();
  t.same(await after.get('step'), { type: 'string', value: 'default' });
});
