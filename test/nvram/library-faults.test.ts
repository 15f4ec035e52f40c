// The library entry (index.ts) composes its NVRAM device the way the CLI does: SALVOR_FAULT injects
// the same emulated power cut into openNvram and formatNvram.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { formatNvram, openNvram } from '../../index';

const dir = mkdtempSync(join(tmpdir(), 'salvor-libfault-'));
const saved = { fault: process.env.SALVOR_FAULT, action: process.env.SALVOR_FAULT_ACTION };
t.teardown(() => {
  rmSync(dir, { recursive: true, force: true });
  restore();
});

function restore(): void {
  for (const [name, value] of [['SALVOR_FAULT', saved.fault], ['SALVOR_FAULT_ACTION', saved.action]] as const)
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
}

const image = join(dir, 'nv.img');
const stateDir = join(dir, 'state');

t.test('openNvram honours SALVOR_FAULT: the cut stops the write and the old value survives', async (t) => {
  delete process.env.SALVOR_FAULT;
  await formatNvram(image, { size: 16 * 1024, sectorSize: 256, stateDir });
  const store = await openNvram({ device: image, writable: true, stateDir });
  await store.set('serial', { type: 'string', value: 'SN-0001' });
  await store.close();

  process.env.SALVOR_FAULT = 'nvram-cut:0:1:lose';
  process.env.SALVOR_FAULT_ACTION = 'throw'; // throw at the cut instead of killing the test process
  const cut = await openNvram({ device: image, writable: true, stateDir });
  await t.rejects(cut.set('serial', { type: 'string', value: 'SN-0002' }), { code: 'SALVOR_POWER_CUT' }, 'the emulated power cut reaches the library');
  await cut.close().catch(() => undefined); // the device is dead after the cut
  restore();

  const after = await openNvram({ device: image, stateDir });
  t.same(await after.get('serial'), { type: 'string', value: 'SN-0001' }, 'the old value, as after a real cut that lost the write');
  await after.close();
});

t.test('a malformed SALVOR_FAULT fails the open with one clear error', async (t) => {
  process.env.SALVOR_FAULT = 'nvram-cut:soon';
  await t.rejects(openNvram({ device: image, stateDir }), { code: 'SALVOR_USAGE', message: /SALVOR_FAULT='nvram-cut:soon' is not nvram-cut:WRITES/ });
  restore();
});
