import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatNvram } from '../../lib/nvram/format';
import { openSalvorStore } from '../../lib/nvram/salvor-store';
import type { DeviceOpener, NvramDevice } from '../../lib/nvram/device';
import type { NvramValue } from '../../lib/nvram/store';
import { MemoryNvramDevice } from '../../platform/sim/memory-device';
import { withFaults, type FaultPlan } from '../../platform/sim/faulty-device';

// Power cut after every single write of an operation, with the unflushed writes at the cut kept,
// lost, torn or overwritten with garbage (as SQLite's crash tests do): a read afterwards must give
// exactly the old value or exactly the new one, and recovery must leave a clean store.

const stateDir = mkdtempSync(join(tmpdir(), 'salvor-cut-'));
t.teardown(() => rmSync(stateDir, { recursive: true, force: true }));

const str = (value: string): NvramValue => ({ type: 'string', value });
const PATH = '/salvor-test/power-cut.nvram';

/** An opener that serves one in-memory device, optionally behind a fault plan. */
function openerFor(bytes: Buffer, plan?: FaultPlan, counter?: { writes: number }): DeviceOpener {
  return async () => {
    let dev: NvramDevice = new MemoryNvramDevice(PATH, bytes);
    if (counter) dev = countingDevice(dev, counter);
    return plan ? withFaults(dev, plan) : dev;
  };
}

function countingDevice(inner: NvramDevice, counter: { writes: number }): NvramDevice {
  return new Proxy(inner, {
    get(target, prop) {
      if (prop === 'write')
        return (offset: number, data: Uint8Array) => {
          counter.writes++;
          return target.write(offset, data);
        };
      const v = Reflect.get(target, prop);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}

async function valuesOf(bytes: Buffer, writable = false): Promise<Map<string, string>> {
  const store = await openSalvorStore(PATH, openerFor(bytes), { writable, stateDir });
  try {
    return new Map((await store.list()).map((e) => [e.key, e.value.type === 'string' ? e.value.value : String(e.value.value)]));
  } finally {
    await store.close();
  }
}

async function baseImage(size: number, sectorSize: number): Promise<Buffer> {
  const bytes = Buffer.alloc(size);
  await formatNvram(PATH, openerFor(bytes), { size, sectorSize, stateDir });
  const store = await openSalvorStore(PATH, openerFor(bytes), { writable: true, stateDir });
  for (let i = 0; i < 6; i++) await store.set(`key${i}`, str(`initial-${i}-`.padEnd(40 + i * 30, 'x')));
  await store.close();
  return bytes;
}

type Op = { name: string; key: string; run: (s: Awaited<ReturnType<typeof openSalvorStore>>) => Promise<unknown>; newValue: string | undefined };

const ops: Op[] = [
  { name: 'small set', key: 'key2', run: (s) => s.set('key2', str('changed')), newValue: 'changed' },
  { name: 'set spanning sectors', key: 'key1', run: (s) => s.set('key1', str('y'.repeat(900))), newValue: 'y'.repeat(900) },
  { name: 'new key', key: 'added', run: (s) => s.set('added', str('z'.repeat(300))), newValue: 'z'.repeat(300) },
  { name: 'unset', key: 'key0', run: (s) => s.unset('key0'), newValue: undefined },
];

for (const op of ops) {
  t.test(`cut at every write of ${op.name}`, async (t) => {
    const base = await baseImage(16 * 1024, 256);
    const before = await valuesOf(base);
    const counter = { writes: 0 };
    {
      const probe = Buffer.from(base);
      const s = await openSalvorStore(PATH, openerFor(probe, undefined, counter), { writable: true, stateDir });
      await op.run(s);
      await s.close();
    }
    t.ok(counter.writes >= 5, `the operation takes ${counter.writes} writes`);
    const outcomes = { old: 0, new: 0 };
    for (let cut = 0; cut < counter.writes; cut++) {
      for (const mode of ['keep', 'lose', 'torn', 'garbage', 'random'] as const) {
        for (const seed of mode === 'random' || mode === 'garbage' || mode === 'torn' ? [1, 2, 3] : [1]) {
          const bytes = Buffer.from(base);
          const store = await openSalvorStore(PATH, openerFor(bytes, { cutAfterWrites: cut, seed, mode, onCut: 'throw' }), { writable: true, stateDir });
          await t.rejects(op.run(store), { code: 'SALVOR_POWER_CUT' }, `cut after ${cut} writes (${mode}, seed ${seed}) stops the operation`);
          await store.close();

          const seen = await valuesOf(bytes);
          const got = seen.get(op.key);
          const isOld = got === before.get(op.key);
          const isNew = got === op.newValue;
          if (!isOld && !isNew) t.fail(`cut ${cut} ${mode} ${seed}: ${op.key} is neither old nor new: ${String(got).slice(0, 30)}`);
          if (isOld) outcomes.old++;
          else outcomes.new++;
          for (const [k, v] of before) if (k !== op.key && seen.get(k) !== v) t.fail(`cut ${cut} ${mode} ${seed}: untouched ${k} changed`);

          const fixer = await openSalvorStore(PATH, openerFor(bytes), { writable: true, stateDir });
          await fixer.recover();
          const after = await fixer.check();
          await fixer.close();
          if (!after.clean) t.fail(`cut ${cut} ${mode} ${seed}: not clean after recover: ${JSON.stringify(after.badSectors)}`);
          const final = await valuesOf(bytes);
          if (final.get(op.key) !== got) t.fail(`cut ${cut} ${mode} ${seed}: recover changed what a reader saw`);
        }
      }
    }
    t.ok(outcomes.old > 0 && outcomes.new > 0, `both outcomes occur (old ${outcomes.old}, new ${outcomes.new})`);
  });
}

t.test('cut during recover of a bad sector, then recover again', async (t) => {
  const base = await baseImage(16 * 1024, 256);
  const before = await valuesOf(base);
  const geoDataStart = 4;
  base[geoDataStart * 256 + 17] ^= 0xff; // damage data sector 0; its spare holds the value
  for (let cut = 0; cut < 6; cut++) {
    for (const mode of ['lose', 'torn', 'garbage'] as const) {
      const bytes = Buffer.from(base);
      const store = await openSalvorStore(PATH, openerFor(bytes, { cutAfterWrites: cut, seed: cut + 7, mode, onCut: 'throw' }), { writable: true, stateDir });
      await store.recover().catch((e) => t.equal(e.code, 'SALVOR_POWER_CUT'));
      await store.close();
      const fixer = await openSalvorStore(PATH, openerFor(bytes), { writable: true, stateDir });
      await fixer.recover();
      t.ok((await fixer.check()).clean, `clean after a cut at write ${cut} (${mode}) and a second recover`);
      await fixer.close();
      t.same(await valuesOf(bytes), before, 'every value kept');
    }
  }
});
