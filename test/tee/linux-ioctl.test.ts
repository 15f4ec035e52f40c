import t from 'tap';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SIGNING_TA_UUID } from '../../lib/tee/signing-ta';

// The Linux backend without a TEE: the test builds fake-tee-driver.c into an LD_PRELOAD library that
// answers the TEE ioctls on a fake device path and logs the bytes each one got. A child Node process
// runs the real LinuxTeeClient (dist/) against it; the test checks what it got back and the bytes
// that would have gone to the driver: request numbers, struct layouts, cancel ids, error mapping.

const DIST = join(__dirname, '..', '..', 'dist');

const script = `
const { LinuxTeeClient } = require(${JSON.stringify(join(DIST, 'platform', 'linux', 'linux-tee-client.js'))});
const out = {};
(async () => {
  const c = await LinuxTeeClient.open({ device: process.env.FAKE_TEE_PATH });
  const s = await c.openSession(${JSON.stringify(SIGNING_TA_UUID)}, 'user', 1000);
  out.session = s;
  out.counter = (await c.invoke(s, 3, [{ type: 'value', a: 0, b: 0 }], 1000))[0];
  const shm = await c.registerSharedMemory(4096, 1000);
  const r = await c.invoke(s, 2, [{ type: 'memref', data: Buffer.from('device') }, { type: 'memref', data: Buffer.from('abcdef'), shm }, { type: 'memref', data: Buffer.alloc(16) }, { type: 'value', a: 0, b: 0 }], 1000);
  out.signed = [r[2].data.toString(), r[3].a];
  const fail = async (p) => p.then(() => null, (e) => ({ code: e.code, teec: e.teec, origin: e.origin, errno: e.errno, syscall: e.syscall }));
  out.dead = await fail(c.invoke(s, 0xdead, [], 1000));
  const t0 = Date.now();
  out.hang = await fail(c.invoke(s, 0x4a46, [], 200));
  out.hangMs = Date.now() - t0;
  out.eio = await fail(c.invoke(s, 0xe10, [], 1000));
  out.noTa = await fail(c.openSession('00000000-0000-0000-0000-000000000001', 'public', 1000));
  await c.closeSession(s, 1000);
  await c.close();
  await c.close();
  out.afterClose = await fail(c.invoke(s, 3, [], 1000));
  process.stdout.write(JSON.stringify(out));
})().catch((e) => { process.stdout.write(JSON.stringify({ crashed: e.message, code: e.code })); });
`;

t.test('LinuxTeeClient against an LD_PRELOAD fake of the TEE driver', async (t) => {
  const dir = t.testdir({});
  const cc = spawnSync('cc', ['-shared', '-fPIC', '-Wall', '-Wextra', '-Werror', '-o', join(dir, 'fake-tee.so'), join(__dirname, 'fake-tee-driver.c'), '-ldl'], { encoding: 'utf8' });
  if (cc.error || cc.status !== 0) {
    t.skip(`cannot build the fake driver with cc (${cc.error?.message ?? cc.stderr.trim()}): install a C compiler to run this test`);
    return;
  }
  writeFileSync(join(dir, 'run.js'), script);
  const log = join(dir, 'ioctl.log');
  const r = spawnSync(process.execPath, [join(dir, 'run.js')], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, LD_PRELOAD: join(dir, 'fake-tee.so'), FAKE_TEE_PATH: '/dev/tee-fake0', FAKE_TEE_LOG: log } });
  t.equal(r.status, 0, `the child ran (${r.stderr.slice(-300)})`);
  type Failure = { code: string; teec?: number; origin?: number; errno?: number; syscall?: string };
  const out = JSON.parse(r.stdout) as { crashed?: string; session: number; counter: unknown; signed: unknown; hangMs: number } & Record<'dead' | 'hang' | 'eio' | 'noTa' | 'afterClose', Failure>;
  t.notOk(out.crashed, `no unexpected failure (${out.crashed ?? ''})`);
  t.equal(out.session, 7, 'the session id comes back from TEE_IOC_OPEN_SESSION');
  t.same(out.counter, { type: 'value', a: 42, b: 0 }, 'a value output parameter');
  t.same(out.signed, ['fedcba', 5], 'memrefs travel through registered shared memory, in and out, with the output size the driver set');
  t.same(out.dead, { code: 'SALVOR_TEE_TARGET_DEAD', teec: 0xffff3024, origin: 3 }, 'TEEC_ERROR_TARGET_DEAD origin TEE');
  t.equal(out.hang.code, 'SALVOR_TEE_TIMEOUT', 'an invoke past its deadline is a hang');
  t.ok(out.hangMs >= 190 && out.hangMs < 5000, `reported at its deadline, not when the driver returns (${out.hangMs} ms)`);
  t.same([out.eio.code, out.eio.syscall], ['SALVOR_TEE_COMMS', 'ioctl(TEE_IOC_INVOKE)'], 'EIO from the driver is a communication failure naming the ioctl');
  t.equal(out.eio.errno !== undefined, true, 'with its errno');
  t.same([out.noTa.code, out.noTa.teec], ['SALVOR_BAD_INPUT', 0xffff0008], 'an unknown TA: TEEC_ERROR_ITEM_NOT_FOUND');
  t.equal(out.afterClose.code, 'SALVOR_TEE_COMMS', 'a closed client fails calls as a communication error (EBADF)');

  const lines = readFileSync(log, 'utf8').trim().split('\n').map((l) => {
    const [req, hex = ''] = l.split(' ');
    return { req: parseInt(req, 16), bytes: Buffer.from(hex, 'hex') };
  });
  const of = (req: number) => lines.filter((l) => l.req === req);
  t.equal(of(0x800ca400).length, 1, 'TEE_IOC_VERSION once, at open (0x800ca400)');
  const reg = of(0xc018a409);
  t.equal(reg.length, 2, 'TEE_IOC_SHM_REGISTER (0xc018a409): the scratch buffer and the caller’s');
  t.same(reg.map((l) => [l.bytes.length, l.bytes.readBigUInt64LE(8)]), [[24, 131072n], [24, 4096n]], 'struct tee_ioctl_shm_register_data: 24 bytes, length at offset 8');
  const open = of(0x8010a402);
  t.equal(open[0].bytes.length, 56, 'TEE_IOC_OPEN_SESSION (0x8010a402) with a 56-byte tee_ioctl_open_session_arg and no params');
  t.equal(open[0].bytes.subarray(0, 16).toString('hex'), SIGNING_TA_UUID.replace(/-/g, ''), 'the TA UUID in its 16 bytes');
  t.equal(open[0].bytes.readUInt32LE(32), 1, 'clnt_login TEE_IOCTL_LOGIN_USER');
  const invokes = of(0x8010a403);
  const sign = invokes.find((l) => l.bytes.readUInt32LE(0) === 2)!;
  t.equal(sign.bytes.length, 24 + 4 * 32, 'TEE_IOC_INVOKE (0x8010a403): 24-byte head and 32-byte params');
  t.same([sign.bytes.readUInt32LE(4), sign.bytes.readUInt32LE(20)], [7, 4], 'session and num_params');
  t.same([Number(sign.bytes.readBigUInt64LE(24)), Number(sign.bytes.readBigUInt64LE(24 + 96))], [7, 3], 'memref params are MEMREF_INOUT (7), the last a VALUE_INOUT (3)');
  t.equal(Number(sign.bytes.readBigUInt64LE(24 + 32 + 24)), 2, 'the message memref names the caller’s registration (shm id 2)');
  const hang = invokes.find((l) => l.bytes.readUInt32LE(0) === 0x4a46)!;
  const cancels = of(0x8008a404);
  t.equal(cancels.length, 1, 'one TEE_IOC_CANCEL (0x8008a404)');
  t.same([cancels[0].bytes.readUInt32LE(0), cancels[0].bytes.readUInt32LE(4)], [hang.bytes.readUInt32LE(8), 7], 'it carries the hung invoke’s cancel_id and session');
  t.equal(of(0x8004a405).length, 1, 'TEE_IOC_CLOSE_SESSION (0x8004a405)');
});
