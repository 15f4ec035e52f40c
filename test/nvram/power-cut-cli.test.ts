import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// The shipping binary under SALVOR_FAULT: the process is killed (SIGKILL) at the emulated power cut,
// as a real cut would stop it, and the next command must read the old value or the new one.

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
    t.equal(salvor(['nvram', 'check', '--device', image]).status, 0, 'clean afterwards');
    t.equal(salvor(['nvram', 'get', '--device', image, 'slot']).stdout, got.stdout, 'recover kept what the reader saw');
    t.equal(salvor(['nvram', 'set', '--device', image, 'slot', 'a'.repeat(500)]).status, 0, 'back to the initial value');
  });
}
