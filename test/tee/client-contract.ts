import { createPublicKey, verify } from 'node:crypto';
import type { Test } from 'tap';
import type { TeeClient } from '../../lib/tee/client';
import { SigningTa, SIGNING_TA_UUID } from '../../lib/tee/signing-ta';
import type { TeeError } from '../../lib/tee/tee-errors';

/**
 * The TeeClient contract (lib/tee/client.ts), run against every backend. `open` gives a fresh client
 * on a fresh TEE; the fault checks run only where the backend can inject (the simulated one).
 */
export function teeClientContract(t: Test, open: () => Promise<TeeClient>): void {
  const DEADLINE = 2000;

  const withClient = async (t: Test): Promise<{ client: TeeClient; session: number; ta: SigningTa }> => {
    const client = await open();
    t.teardown(() => client.close());
    const session = await client.openSession(SIGNING_TA_UUID, 'user', DEADLINE);
    const shm = await client.registerSharedMemory(4096, DEADLINE);
    return { client, session, ta: new SigningTa(client, () => session, () => shm) };
  };

  t.test('sessions, keys and signatures', async (t) => {
    const { client, ta } = await withClient(t);
    await ta.provision('device', 'ed25519', DEADLINE);
    await ta.provision('p256', 'ecdsa-p256', DEADLINE);
    await ta.provision('device', 'ed25519', DEADLINE); // provisioning twice keeps the key
    const ed = await ta.publicKey('device', DEADLINE);
    const ec = await ta.publicKey('p256', DEADLINE);
    t.equal(ed.alg, 'ed25519');
    t.equal(ec.alg, 'ecdsa-p256');
    const msg = Buffer.from('the message');
    const before = await ta.counter(DEADLINE);
    const s1 = await ta.sign('device', 'req-1', msg, DEADLINE);
    const s2 = await ta.sign('p256', 'req-2', msg, DEADLINE);
    t.ok(verify(null, msg, createPublicKey({ key: ed.spki, format: 'der', type: 'spki' }), s1.signature), 'the Ed25519 signature verifies with node:crypto');
    t.ok(verify('sha256', msg, createPublicKey({ key: ec.spki, format: 'der', type: 'spki' }), s2.signature), 'the ECDSA P-256 DER signature verifies with node:crypto');
    t.equal(s2.counter, s1.counter + 1, 'each signature advances the counter by one');
    t.equal(s1.counter, before + 1);
    const again = await ta.sign('device', 'req-1', msg, DEADLINE);
    t.same([again.signature, again.counter, again.replayed], [s1.signature, s1.counter, true], 'a repeated idempotency key is answered from the journal, not signed again');
    t.equal(await ta.counter(DEADLINE), before + 2, 'the counter did not move for the repeat');
    await t.rejects(ta.publicKey('nope', DEADLINE), { code: 'SALVOR_BAD_INPUT' }, 'an unknown key is the caller’s error');
    await t.rejects(client.openSession('00000000-0000-0000-0000-000000000000', 'public', DEADLINE), { code: 'SALVOR_BAD_INPUT' }, 'an unknown TA is ITEM_NOT_FOUND');
    await client.close();
    await client.close();
    await t.rejects(ta.counter(DEADLINE), { code: 'SALVOR_TEE_COMMS' }, 'a closed client fails calls with a communication error');
  });

  t.test('restart: sessions, shared memory and hardware status are gone until restored', async (t) => {
    const { client, ta, session } = await withClient(t);
    await ta.provision('device', 'ed25519', DEADLINE);
    const hw = await client.readHardwareStatus(DEADLINE);
    const counter = await ta.counter(DEADLINE);
    await client.restart(10_000);
    t.ok(client.lastRestartMs! > 0, 'the restart time is measured');
    const after = await client.readHardwareStatus(DEADLINE);
    const writable = Object.keys(hw.registers).filter((k) => !hw.readOnly.includes(k));
    t.ok(writable.some((k) => after.registers[k] !== hw.registers[k]), 'a restart without restoring leaves the hardware status visibly different');
    await t.rejects(client.invoke(session, 3, [{ type: 'value', a: 0, b: 0 }], DEADLINE), { code: 'SALVOR_TEE_TARGET_DEAD' }, 'the old session is dead');
    const s2 = await client.openSession(SIGNING_TA_UUID, 'user', DEADLINE);
    const ta2 = new SigningTa(client, () => s2, () => undefined);
    await t.rejects(ta2.counter(DEADLINE), { code: 'SALVOR_TEE_BAD_STATE' }, 'the TA refuses to run before the hardware status is restored');
    await client.writeHardwareStatus(Object.fromEntries(writable.map((k) => [k, hw.registers[k]])), DEADLINE);
    t.equal(await ta2.counter(DEADLINE), counter, 'restored: the TA runs and its counter did not go back');
    await t.rejects(client.writeHardwareStatus({ bootCount: 1 }, DEADLINE), { code: 'SALVOR_TEE_BAD_PARAMETERS' }, 'read-only registers are refused');
    const shmStale = new SigningTa(client, () => s2, () => 999999);
    await t.rejects(shmStale.sign('device', 'stale-shm', Buffer.from('x'), DEADLINE), { code: 'SALVOR_TEE_BAD_PARAMETERS' }, 'shared memory from before the restart is not registered any more');
  });

  t.test('faults: TA panic, hang past the deadline, corrupted reply, core panic', async (t) => {
    const probe = await open();
    const injectable = probe.injectable;
    await probe.close();
    if (!injectable) {
      t.skip('this backend has no fault injection (a real TEE); the fault paths run on the simulated one');
      return;
    }
    const { client, ta } = await withClient(t);
    await ta.provision('device', 'ed25519', DEADLINE);
    await client.inject!('ta-panic');
    const dead = (await ta.counter(DEADLINE).catch((e: TeeError) => e)) as TeeError;
    t.same([dead.code, dead.teec, dead.origin], ['SALVOR_TEE_TARGET_DEAD', 0xffff3024, 3], 'TA panic: TEEC_ERROR_TARGET_DEAD with origin TEE');

    const s = await client.openSession(SIGNING_TA_UUID, 'user', DEADLINE);
    const ta2 = new SigningTa(client, () => s, () => undefined);
    await client.inject!('corrupt');
    await t.rejects(ta2.counter(DEADLINE), { code: 'SALVOR_TEE_CORRUPT' }, 'a corrupted reply is caught by its check');
    t.ok((await ta2.counter(DEADLINE)) >= 0, 'the next reply is whole');

    await client.inject!('hang');
    const t0 = Date.now();
    await t.rejects(ta2.counter(300), { code: 'SALVOR_TEE_TIMEOUT' }, 'a hung TA: the call fails at its deadline');
    t.ok(Date.now() - t0 >= 290, 'not before it');

    const crashes: string[] = [];
    client.onCrash((n) => crashes.push(n.reason));
    await client.inject!('panic');
    await t.rejects(ta2.counter(5000), { code: /SALVOR_TEE_(COMMS|TIMEOUT)/ }, 'a panicked core answers nothing');
    t.ok(crashes.length >= 1, 'the panic is reported as a crash notice');
    t.ok((await client.readHardwareStatus(DEADLINE)).registers.bootCount >= 1, 'hardware status stays readable after a panic');
  });
}
