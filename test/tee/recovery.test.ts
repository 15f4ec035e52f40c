import t from 'tap';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CrashLoopGuard } from '../../lib/tee/crash-loop';
import { loadRecord, saveRecord } from '../../lib/tee/recovery-record';
import { simService } from './service-helpers';

// Recovery beyond a single crash: a crash while recovering, a crash loop that ends in give-up and a
// report (then a manual recover), and the stored record's checks.

t.test('a crash during recovery: recovery starts over and the request still completes once', async (t) => {
  const { service, client, events } = await simService(t);
  let struck = false;
  service.on('event', (e: { event: string }) => {
    // The TEE OS panics again right after it came back, before the context is restored.
    if (e.event === 'tee-os-restarted' && !struck) {
      struck = true;
      void client.inject('panic');
    }
  });
  await client.inject('panic');
  const r = await service.sign('device', Buffer.from('during recovery'), { idempotencyKey: 'k1', timeoutMs: 60_000 });
  t.ok(r.signature.length === 64, 'the request waited through both crashes and got its signature');
  const names = events.map((e) => e.event);
  t.ok(names.includes('tee-recovery-failed'), 'the second crash failed the first recovery');
  t.ok(names.lastIndexOf('tee-resumed') > names.indexOf('tee-recovery-failed'), 'and a later attempt resumed');
  t.ok(service.restarts >= 2, `the TEE OS restarted twice or more (${service.restarts})`);
  t.equal(service.signed, 1);
  t.equal(service.state, 'running');
});

t.test('a crash loop gives up after maxCrashes in the window, reports, and `recover` brings it back', async (t) => {
  const { service, client, events, stateDir } = await simService(t, { crashLoop: { maxCrashes: 3, windowMs: 60_000, backoffInitialMs: 10, backoffMaxMs: 50 } });
  // The TEE OS panics again each time it comes back: every recovery attempt fails.
  service.on('event', (e: { event: string }) => {
    if (e.event === 'tee-os-restarted') void client.inject('panic').catch(() => undefined);
  });
  const detected = new Promise<void>((r) => service.on('event', (e: { event: string }) => e.event === 'tee-crash-detected' && r()));
  await client.inject('panic');
  await detected;
  const waiting = service.sign('device', Buffer.from('never'), { timeoutMs: 60_000 });
  await t.rejects(waiting, { code: 'SALVOR_TEE_GAVE_UP' }, 'a waiting request is refused once recovery gives up, not left hanging');
  t.equal(service.state, 'failed');
  t.equal(events.filter((e) => e.event === 'tee-recovery-failed').length, 3, 'three attempts were made; the fourth crash in the window gave up');
  t.equal(events.filter((e) => e.event === 'tee-resumed').length, 0);
  const report = JSON.parse(readFileSync(join(stateDir, 'tee', 'report.json'), 'utf8')) as { action: string; reason: string };
  t.match(report.action, /platform reboot/, 'the report asks for a platform reboot');
  t.match(report.reason, /4 crashes within 60000 ms/);
  await t.rejects(service.sign('device', Buffer.from('x'), { timeoutMs: 1000 }), { code: 'SALVOR_TEE_GAVE_UP' }, 'new requests are refused at once while given up');
  service.removeAllListeners('event');
  const r = await service.recoverNow();
  t.equal(r.result, 'corrected', 'a manual recover restarts the TEE OS and resumes');
  t.equal(service.state, 'running');
  t.ok((await service.sign('device', Buffer.from('after'), { timeoutMs: 10_000 })).signature.length === 64);
  t.same((await service.recoverNow()).result, 'clean', 'a second recover finds nothing to do');
});

t.test('hardware status: a TEE OS restarted behind the service’s back is caught by recover', async (t) => {
  const { service, client } = await simService(t);
  await client.restart(30_000); // the registers are at reset values, the session is gone
  const r = await service.recoverNow();
  t.equal(r.result, 'corrected', 'recover found the TEE not as stored and recovered it');
  t.ok((await service.sign('device', Buffer.from('x'), { timeoutMs: 10_000 })).signature.length === 64);
});

t.test('crash-loop guard: backoff grows to its cap; give-up only past the limit', async (t) => {
  let now = 0;
  const g = new CrashLoopGuard({ maxCrashes: 10, windowMs: 60_000, backoffInitialMs: 50, backoffMaxMs: 400 }, () => now);
  const waits: (number | string)[] = [];
  for (let i = 0; i < 10; i++, now += 1000) waits.push(g.record());
  t.same(waits, [0, 50, 100, 200, 400, 400, 400, 400, 400, 400], 'a crash every second for ten seconds is survived, backing off');
  t.equal(g.record(), 'give-up', 'the eleventh in the window gives up');
  now += 61_000;
  t.equal(g.record(), 0, 'once the window has passed, a crash recovers at once again');
});

t.test('the recovery record: written whole, checksummed, refused when damaged', async (t) => {
  const dir = t.testdir({});
  const path = join(dir, 'tee', 'recovery.json');
  t.equal(await loadRecord(path), undefined, 'no record: nothing to resume');
  const rec = { cause: 'c', crashAt: 1, level: 'ta' as const, attempts: 1, hardwareStatus: { registers: { a: 1 }, readOnly: [], source: 'last-known' as const }, ree: { sessions: [], sharedMemory: [], pending: [], counters: { signatures: 3 } } };
  await saveRecord(path, rec);
  t.same(await loadRecord(path), rec, 'read back as written');
  t.notOk(existsSync(`${path}.tmp-${process.pid}`), 'no temporary left');
  const text = readFileSync(path, 'utf8').replace('"signatures":3', '"signatures":2');
  (await import('node:fs')).writeFileSync(path, text);
  await t.rejects(loadRecord(path), { code: 'SALVOR_BAD_INPUT', message: /checksum mismatch/ }, 'a changed record is refused by its checksum');
});
