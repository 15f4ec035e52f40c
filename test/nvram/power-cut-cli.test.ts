import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkNoHandleLeft } from './helpers';

// The shipping binary under SALVOR_FAULT: the process is killed (SIGKILL) at the emulated power cut,
// as a real cut would stop it, and the next command must read the old value or the new one.

checkNoHandleLeft(t);

const cli = join(__dirname, '..', '..', 'dist', 'tools', 'salvor.js');
const dir = mkdtempSync(join(tmpdir(), 'salvor-cutcli-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const env = { ...process.env, SALVOR_STATE_DIR: join(dir, 'state') };
const image = join(dir, 'nv.img');

function salvor(args: string[], extraEnv: Record<string, string> = {}) {
  return spawnSync(process.execPath, [cli, ...args], { env: { ...env, ...extraEnv }, encoding: 'utf8' });
}

t.equal(salvor(['nvram', 'format', '--device', image, '--size', '16K', '--sector-size', '256']).status, 0, 'format');
t.equal(salvor(['nvram', 'set', '--device', image, 'slot', 'a'.repeat(500)]).status, 0, 'initial value');

for (let cut = 0; cut < 5; cut++) {
  t.test(`killed at write ${cut + 1} of a set`, async (t) => {
    const r = salvor(['nvram', 'set', '--device', image, 'slot', 'b'.repeat(500)], { SALVOR_FAULT: `nvram-cut:${cut}:${cut + 3}:random` });
    t.equal(r.signal, 'SIGKILL', 'the process died at the cut');
    const got = salvor(['nvram', 'get', '--device', image, 'slot']);
    t.equal(got.status, 0, 'readable after the cut');
    t.ok(['a'.repeat(500), 'b'.repeat(500)].includes(got.stdout.trim()), 'old or new value');
    const rec = salvor(['nvram', 'recover', '--device', image, '--json']);
    t.ok([0, 1].includes(rec.status ?? -1), `recover exits 0 or 1 (got ${rec.status})`);
    const journal = (JSON.parse(rec.stdout) as { journal: string }).journal;
    const kept = { 'rolled-forward': 'b'.repeat(500), 'rolled-back': 'a'.repeat(500) } as Record<string, string>;
    if (journal in kept) t.equal(got.stdout.trim(), kept[journal], `recover reports ${journal}, and the value is the one that implies`);
    t.equal(salvor(['nvram', 'check', '--device', image]).status, 0, 'clean afterwards');
    t.equal(salvor(['nvram', 'get', '--device', image, 'slot']).stdout, got.stdout, 'recover kept what the reader saw');
    t.equal(salvor(['nvram', 'set', '--device', image, 'slot', 'a'.repeat(500)]).status, 0, 'back to the initial value');
  });
}

t.test('the reported outcome of a cut is what was done (SALVOR_FAULT=nvram-cut:1:7:torn, same-length values)', async (t) => {
  const img = join(dir, 'serial.img');
  t.equal(salvor(['nvram', 'format', '--device', img, '--size', '16K']).status, 0);
  t.equal(salvor(['nvram', 'set', '--device', img, 'serial', 'SN-0001']).status, 0);
  const cut = salvor(['nvram', 'set', '--device', img, 'serial', 'SN-0002'], { SALVOR_FAULT: 'nvram-cut:1:7:torn' });
  t.equal(cut.signal, 'SIGKILL', 'the process died at the cut');
  const check = salvor(['nvram', 'check', '--device', img]);
  t.equal(check.status, 4);
  t.match(check.stdout, /interrupted write: pending, will roll-back/, 'check announces a roll-back');
  const rec = salvor(['nvram', 'recover', '--device', img, '--json']);
  t.equal(rec.status, 1);
  t.match(JSON.parse(rec.stdout), { journal: 'rolled-back', clean: true }, 'recover reports the roll-back it did');
  t.equal(salvor(['nvram', 'get', '--device', img, 'serial']).stdout, 'SN-0001\n', 'and the key kept its old value');
});
