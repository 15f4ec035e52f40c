import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { readPskFile } from '../../lib/transport/psk-file';
import { replicationCapability } from '../../lib/agent/capabilities/replication';
import { replicationSchema } from '../../lib/agent/config-schema';
import type { CapabilityContext } from '../../lib/agent/capability';
import { checkFileLeavesNoHandles } from './open-handles';

// One reader for pre-shared key files, one rule: one trailing LF or CRLF dropped, at least 16 bytes.

checkFileLeavesNoHandles(t);
const dir = mkdtempSync(join(tmpdir(), 'salvor-psk-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, bytes: string | Buffer) => {
  const p = join(dir, name);
  writeFileSync(p, bytes);
  return p;
};
const KEY = 'correct horse battery staple 42';

t.test('LF, CRLF and no line end give the same key', async (t) => {
  const plain = await readPskFile(file('plain', KEY), '--psk-file');
  t.equal(plain.toString(), KEY);
  t.same(await readPskFile(file('lf', `${KEY}\n`), '--psk-file'), plain, 'LF dropped');
  t.same(await readPskFile(file('crlf', `${KEY}\r\n`), '--psk-file'), plain, 'CRLF dropped');
  t.equal((await readPskFile(file('two', `${KEY}\n\n`), '--psk-file')).toString(), `${KEY}\n`, 'only one line end is dropped');
});

t.test('a key under 16 bytes is bad input, naming the input', async (t) => {
  await t.rejects(readPskFile(file('one', 'x\n'), 'replication.pskFile'), { code: 'SALVOR_BAD_INPUT', message: /replication\.pskFile .*one: a pre-shared key needs at least 16 bytes \(got 1/ });
  await t.rejects(readPskFile(file('fifteen', `${'k'.repeat(15)}\r\n`), '--psk-file'), { code: 'SALVOR_BAD_INPUT', message: /got 15/ });
  t.equal((await readPskFile(file('sixteen', `${'k'.repeat(16)}\r\n`), '--psk-file')).length, 16, '16 bytes are enough');
});

t.test('a missing file names the input and the path', async (t) => {
  await t.rejects(readPskFile(join(dir, 'absent'), '--psk-file'), { code: 'ENOENT', message: /--psk-file .*absent/ });
});

t.test('the CLI reads keys by the same rule: a 1-byte key is exit 16 before anything connects', async (t) => {
  const cli = join(__dirname, '..', '..', 'dist', 'tools', 'salvor.js');
  const r = spawnSync(process.execPath, [cli, 'replicate', 'standby', '--connect', 'tcp://127.0.0.1:9', '--replica', join(dir, 'r.bin'), '--psk-file', file('short', 'x\r\n')], {
    encoding: 'utf8',
    env: { ...process.env, SALVOR_STATE_DIR: join(dir, 'state') },
  });
  t.equal(r.status, 16, 'exit 16');
  t.match(r.stderr, /^salvor: --psk-file .*short: a pre-shared key needs at least 16 bytes \(got 1/m);
});

t.test('the daemon reads keys by the same rule: a CRLF key file is the same key, a 1-byte key is refused', async (t) => {
  const cfg = replicationSchema.parse({ role: 'standby', replica: join(dir, 'd.bin'), connect: ['tcp://127.0.0.1:9'], pskFile: file('daemon-short', 'x\r\n') });
  const ctx = { stateDir: join(dir, 'daemon') } as unknown as CapabilityContext; // refused before it logs or counts anything
  const deps = { transports: [], openRegion: () => Promise.reject(new Error('unused')), tlsCertificates: () => ({ cert: Buffer.alloc(0), key: Buffer.alloc(0), ca: Buffer.alloc(0) }) };
  await t.rejects(replicationCapability(cfg, deps).start(ctx), { code: 'SALVOR_BAD_INPUT', message: /replication\.pskFile .*daemon-short: a pre-shared key needs at least 16 bytes/ });
});
