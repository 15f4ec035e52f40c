import t from 'tap';
import { createPublicKey, randomBytes, verify } from 'node:crypto';
import type { TeeFault } from '../../lib/tee/client';
import type { SignResult } from '../../lib/tee/security-service';
import { simService } from './service-helpers';

// Six clients send 1000 sign requests between them while panics, TA panics, hangs and corrupted
// replies are injected at random moments: every request completes exactly once with a valid
// signature, the TA signs each exactly once, and its counter never goes back.

t.test('1000 signs from six clients across random TEE faults', async (t) => {
  const { service, client, events } = await simService(t);
  const keys = { device: createPublicKey(service.publicKeyPem('device').pem), p256: createPublicKey(service.publicKeyPem('p256').pem) };
  const startCounter = service.counter;
  const TOTAL = 1000;
  const CLIENTS = 6;
  const results = new Map<string, { msg: Buffer; key: 'device' | 'p256'; r: SignResult }>();
  let counterSeen = startCounter;
  let backwards = 0;
  const watch = () => {
    if (service.counter < counterSeen) backwards++;
    counterSeen = service.counter;
  };
  service.on('event', watch);
  service.on('signed', watch);

  // Faults land at seeded random points of the run, counted in requests rather than milliseconds, so
  // the run cannot end before every kind was injected however fast the machine is.
  const injected: TeeFault[] = [];
  const faults: TeeFault[] = ['panic', 'ta-panic', 'hang', 'corrupt'];
  let seed = 7;
  const rand = (n: number) => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
  const points = Array.from({ length: 8 }, () => 50 + rand(TOTAL - 150)).sort((a, b) => a - b);
  const injections: Promise<void>[] = [];
  const maybeInject = (i: number) => {
    // a point passed while the TEE was still recovering fires at the next request that finds it running
    if (points.length === 0 || i < points[0] || service.state !== 'running') return;
    points.shift();
    const f = faults[injected.length < faults.length ? injected.length : rand(faults.length)];
    injected.push(f);
    injections.push(client.inject(f).catch(() => undefined)); // the TEE may be going down already
  };

  let next = 0;
  let twice = 0;
  const worker = async (w: number) => {
    while (next < TOTAL) {
      const i = next++;
      maybeInject(i);
      const msg = randomBytes(16 + (i % 200));
      const key = i % 5 === 0 ? 'p256' : 'device';
      const idem = `w${w}-r${i}`;
      const r = await service.sign(key, msg, { idempotencyKey: idem, timeoutMs: 60_000 });
      if (results.has(idem)) twice++;
      results.set(idem, { msg, key, r });
    }
  };
  await Promise.all(Array.from({ length: CLIENTS }, (_, w) => worker(w)));
  await Promise.all(injections);

  t.equal(results.size, TOTAL, 'every request completed');
  t.equal(twice, 0, 'none answered twice');
  let bad = 0;
  for (const { msg, key, r } of results.values()) if (!verify(key === 'device' ? null : 'sha256', msg, keys[key], r.signature)) bad++;
  t.equal(bad, 0, 'every signature verifies with node:crypto');
  const counters = [...results.values()].map((x) => x.r.counter).sort((a, b) => a - b);
  t.same(counters, Array.from({ length: TOTAL }, (_, i) => startCounter + 1 + i), 'the TA signed each request exactly once: counters are exactly start+1..start+1000');
  t.equal(service.signed, TOTAL, 'the service counts each signature once');
  t.equal(backwards, 0, 'the counter never went backwards');
  t.equal(events.filter((e) => e.event === 'tee-counter-rollback').length, 0, 'no rollback was reported');
  t.ok(new Set(injected).size === faults.length, `every kind of fault was injected (${injected.join(', ')})`);
  const resumed = events.filter((e) => e.event === 'tee-resumed').length;
  t.ok(resumed >= 3, `the TEE recovered ${resumed} times (TEE OS restarts ${service.restarts}, TA restarts ${service.taRestarts})`);
  t.ok(service.restarts >= 1 && service.taRestarts >= 1, 'both TA and TEE OS restarts happened');
  t.equal(service.state, 'running');
});
