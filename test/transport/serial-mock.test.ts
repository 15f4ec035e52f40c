import t from 'tap';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Link } from '../../lib/transport/link';
import { runLinkContract } from './link-contract';
import { MockNullModem, closed, expectStream, frameStream, sendStream, serialPair, withLinkFault } from './serial-helpers';

// The serial transport over @serialport/binding-mock: two mock ports joined as a null-modem cable in
// this process, so the test sees (and can change) every byte on the wire. The same checks as on the
// pty pair, plus the ones that need the wire in hand: a replay of the exact bytes, a cut cable.

const PSK = randomBytes(32);
const pool = randomBytes(1 << 20);
let cables = 0;

async function mockSession(query = 'baud=4000000', options: Parameters<typeof serialPair>[3] = {}) {
  const cable = new MockNullModem(`c${++cables}`);
  const pair = await serialPair(cable.transport, `serial://${cable.a}?${query}`, `serial://${cable.b}?${query}`, { psk: PSK, ...options });
  return { ...pair, cable };
}

runLinkContract(t, 'serial over a binding-mock null modem', async () => {
  const s = await mockSession();
  return { a: s.a, b: s.b, cleanup: s.cleanup };
});

t.test('SALVOR_LINK_FAULT at 4 % each: every frame once, in order, intact', async (t) => {
  const s = await withLinkFault('drop=0.04,dup=0.04,corrupt=0.04,reorder=0.04,seed=99', () => mockSession());
  const COUNT = 1500;
  const there = expectStream(s.b, COUNT, frameStream(1, pool, 16384));
  const back = expectStream(s.a, COUNT, frameStream(2, pool, 16384));
  await Promise.all([sendStream(s.a, COUNT, frameStream(1, pool, 16384)), sendStream(s.b, COUNT, frameStream(2, pool, 16384))]);
  t.same(await Promise.all([there, back]), [COUNT, COUNT]);
  await sleep(50);
  t.equal(s.a.stats.framesDelivered + s.b.stats.framesDelivered, 2 * COUNT, 'nothing delivered twice');
  t.ok(s.a.stats.retransmits + s.b.stats.retransmits > 0, 'the faults cost retransmissions');
  await s.cleanup();
});

t.test('garbage between packets on the wire', async (t) => {
  const s = await mockSession();
  const COUNT = 300;
  const got = expectStream(s.b, COUNT, frameStream(3, pool, 2048));
  const next = frameStream(3, pool, 2048);
  for (let i = 0; i < COUNT; i++) {
    s.cable.put(s.cable.a, randomBytes(64)); // lands between (or inside) the connecting side's packets
    const f = next();
    await s.a.send(f.type, f.payload, f.epoch);
  }
  t.equal(await got, COUNT);
  t.ok(s.b.stats.garbage + s.b.stats.rejected > 0, `the garbage was seen and dropped (${s.b.stats.garbage} runs, ${s.b.stats.rejected} packets)`);
  t.equal(s.b.stats.framesDelivered, COUNT, 'and nothing else delivered');
  await s.cleanup();
});

t.test('the exact bytes replayed: not delivered twice', async (t) => {
  const s = await mockSession();
  s.cable.tapping = true;
  const got = expectStream(s.b, 30, frameStream(4, pool, 512));
  await sendStream(s.a, 30, frameStream(4, pool, 512));
  await got;
  await sleep(20);
  s.cable.tapping = false;
  const wire = Buffer.concat(s.cable.tapped.bToA); // the connecting side (on b) to the listener (on a)
  s.cable.put(s.cable.a, wire);
  s.cable.put(s.cable.a, wire);
  await sleep(200);
  t.equal(s.b.stats.framesDelivered, 30, 'two replays of all 30 DATA packets deliver nothing');
  t.ok(s.b.stats.duplicatesDropped >= 60, `${s.b.stats.duplicatesDropped} duplicates dropped`);
  const next = expectStream(s.b, 1, frameStream(5, pool, 10), 31n);
  await sendStream(s.a, 1, frameStream(5, pool, 10));
  t.equal(await next, 1, 'the session goes on at seq 31');
  await s.cleanup();
});

t.test('a cut cable: SALVOR_LINK_LOST after the retries, on the sending side', async (t) => {
  const s = await mockSession('baud=4000000&retries=4', { timeoutMs: 60_000 });
  const lost = closed(s.a);
  s.cable.cut = true;
  await s.a.send(1, Buffer.from('lost'), 1n);
  const err = (await lost) as { code?: string; message: string };
  t.equal(err?.code, 'SALVOR_LINK_LOST');
  t.match(err.message, /after 4 retransmissions/);
  t.equal(s.a.stats.retransmits, 4);
  await s.cleanup();
});

t.test('wrong key: SALVOR_AUTH on connect, auth-refused at the listener, no Link', async (t) => {
  const cable = new MockNullModem('wrong-key');
  const logs: Record<string, unknown>[] = [];
  const listener = await cable.transport.listen(new URL(`serial://${cable.a}`), { psk: PSK, log: (l) => logs.push(l) });
  let links = 0;
  listener.onLink(() => links++);
  await t.rejects(cable.transport.connect(new URL(`serial://${cable.b}`), { psk: randomBytes(16) }), { code: 'SALVOR_AUTH' });
  await sleep(100);
  t.equal(links, 0);
  t.match(logs, [{ event: 'auth-refused', side: 'server', peer: cable.a }]);
  await listener.close();
});

t.test('bad URLs and options: SALVOR_BAD_INPUT naming the part', async (t) => {
  const cable = new MockNullModem('bad-input');
  const tr = cable.transport;
  const bad: [string, RegExp][] = [
    ['tcp:///dev/ttyS0', /scheme 'tcp:'/],
    ['serial://host/dev/ttyS0', /host 'host'/],
    ['serial:///', /path '\/'/],
    ['serial:///dev/ttyS0?baud=fast', /baud=fast/],
    ['serial:///dev/ttyS0?baud=0', /baud=0/],
    ['serial:///dev/ttyS0?flow=xon', /flow=xon/],
    ['serial:///dev/ttyS0?parity=even', /unknown query key 'parity'/],
    ['serial:///dev/ttyS0?baud=9600&baud=19200', /'baud' given twice/],
    ['serial:///dev/ttyS0?window=64', /window=64/],
    ['serial:///dev/ttyS0?retries=0', /retries=0/],
  ];
  for (const [url, message] of bad) {
    await t.rejects(tr.connect(new URL(url), { psk: PSK }), { code: 'SALVOR_BAD_INPUT', message }, url);
    await t.rejects(tr.listen(new URL(url), { psk: PSK }), { code: 'SALVOR_BAD_INPUT', message }, `listen ${url}`);
  }
  await t.rejects(tr.connect(new URL(`serial://${cable.b}`), {}), { code: 'SALVOR_BAD_INPUT', message: /pre-shared key/ }, 'no psk');
  await t.rejects(tr.listen(new URL(`serial://${cable.a}`), {}), { code: 'SALVOR_BAD_INPUT', message: /pre-shared key/ }, 'no psk to listen');
  await t.rejects(tr.connect(new URL(`serial://${cable.b}`), { psk: Buffer.alloc(8) }), { code: 'SALVOR_BAD_INPUT', message: /16 bytes/ }, 'short psk');
  await t.rejects(tr.connect(new URL(`serial://${cable.b}`), { psk: PSK, timeoutMs: -1 }), { code: 'SALVOR_BAD_INPUT', message: /timeoutMs/ });
  await t.rejects(tr.connect(new URL('serial:///dev/salvor-no-such-tty'), { psk: PSK }), { code: 'ENOENT', path: '/dev/salvor-no-such-tty' }, 'a missing tty');
  await withLinkFault('drop=2', async () => {
    await t.rejects(tr.connect(new URL(`serial://${cable.b}`), { psk: PSK }), { code: 'SALVOR_USAGE' }, 'a malformed SALVOR_LINK_FAULT');
  });
  // The refusals opened nothing: both ends still make a session.
  const accepted = new Promise<Link>((resolve) => void tr.listen(new URL(`serial://${cable.a}`), { psk: PSK }).then((l) => l.onLink((link) => resolve(Object.assign(link, { listener: l })))));
  const a = await tr.connect(new URL(`serial://${cable.b}`), { psk: PSK });
  const b = (await accepted) as Link & { listener: { close(): Promise<void> } };
  await Promise.all([a.close(), b.close()]);
  await b.listener.close();
});
