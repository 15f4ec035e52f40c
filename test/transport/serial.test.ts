import t from 'tap';
import { randomBytes } from 'node:crypto';
import { closeSync, constants, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { cobsEncode } from '../../lib/transport/cobs';
import type { Link } from '../../lib/transport/link';
import type { SerialLink } from '../../lib/transport/serial-arq';
import { PacketKind, SESSION_HEADER_BYTES } from '../../lib/transport/serial-packet';
import { type PtyPair, openPtyPair } from '../../platform/linux/pty-pair';
import { serialTransport } from '../../platform/linux/transport-serial';
import { runLinkContract } from './link-contract';
import { closed, expectStream, frameStream, sendStream, serialPair, socatMissing, withLinkFault } from './serial-helpers';

// The serial transport end to end on real ttys: two pseudo-terminals joined by socat, opened through
// serialport's native binding. The Link contract, garbage on the line, SALVOR_LINK_FAULT, wrong keys,
// replayed bytes, a frozen cable, a restarted peer.

const PSK = randomBytes(32);
const BAUD = 'baud=4000000'; // a pty moves bytes as fast as it can; the rate only sets the least timeout

const missing = socatMissing();
if (missing) t.fail(missing); // loudly: CI must install socat (.ci/run)

const work = mkdtempSync(join(tmpdir(), 'salvor-serial-test-'));
t.teardown(() => rmSync(work, { recursive: true, force: true }));
const pool = randomBytes(1 << 20);

/** A session over a fresh pty pair: the listener on pty.a, the connecting side on pty.b. */
async function ptySession(query = BAUD, options: Parameters<typeof serialPair>[3] = {}, record?: string) {
  const pty = await openPtyPair({ record });
  try {
    const pair = await serialPair(serialTransport, `serial://${pty.a}?${query}`, `serial://${pty.b}?${query}`, { psk: PSK, ...options });
    return { ...pair, pty, cleanup: () => pair.cleanup().finally(() => pty.close()) };
  } catch (err) {
    await pty.close();
    throw err;
  }
}

/**
 * Writes bytes straight onto the tty end `path` (through its own descriptor): the peer end reads them.
 * Non-blocking, since the reader runs in this same process: a full pty buffer waits a little, or with
 * `whole: false` drops the rest.
 */
async function writeToTty(path: string, bytes: Buffer, whole = true): Promise<void> {
  const fd = openSync(path, constants.O_WRONLY | constants.O_NOCTTY | constants.O_NONBLOCK);
  try {
    for (let off = 0; off < bytes.length; ) {
      try {
        off += writeSync(fd, bytes, off);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EAGAIN' || !whole) throw err;
        await sleep(5);
      }
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
  } finally {
    closeSync(fd);
  }
}

if (!missing) {
  runLinkContract(t, 'serial over a socat pty pair', async () => {
    const s = await ptySession();
    return { a: s.a, b: s.b, cleanup: s.cleanup };
  });

  t.test('garbage written onto the line between packets: resynchronised, nothing delivered wrong', async (t) => {
    const s = await ptySession();
    const COUNT = 600;
    const atListener = expectStream(s.b, COUNT, frameStream(11, pool, 4096));
    const atConnector = expectStream(s.a, COUNT, frameStream(12, pool, 4096));
    const fakeData = Buffer.alloc(SESSION_HEADER_BYTES + 64 + 16, 7);
    fakeData[0] = 1;
    fakeData[1] = PacketKind.Data;
    const junk = [
      randomBytes(300), // random bytes, zeros among them
      Buffer.alloc(50, 0), // a run of delimiters
      cobsEncode(randomBytes(200)), // valid COBS around nonsense
      cobsEncode(fakeData), // a DATA packet shaped right, with a MAC nobody made
      Buffer.from([0x05, 0x11, 0x22]), // a COBS block cut short
    ];
    let i = 0;
    const spray = setInterval(() => {
      void writeToTty(s.pty.b, junk[i % junk.length]!, false); // onto the listener's input
      void writeToTty(s.pty.a, junk[(i + 2) % junk.length]!, false); // onto the connecting side's input
      i++;
    }, 3);
    try {
      await Promise.all([sendStream(s.a, COUNT, frameStream(11, pool, 4096)), sendStream(s.b, COUNT, frameStream(12, pool, 4096))]);
      t.equal(await atListener, COUNT, 'listener: every frame, in order, intact');
      t.equal(await atConnector, COUNT, 'connecting side: every frame, in order, intact');
    } finally {
      clearInterval(spray);
    }
    await sleep(50);
    t.ok(i > 20, `${i} rounds of garbage went onto both lines`);
    t.ok(s.b.stats.garbage + s.b.stats.rejected > 0 && s.a.stats.garbage + s.a.stats.rejected > 0, `garbage seen and thrown away: ${JSON.stringify([s.a.stats, s.b.stats])}`);
    t.equal(s.b.stats.framesDelivered, COUNT, 'no frame delivered beyond those sent');
    t.equal(s.a.stats.framesDelivered, COUNT, 'no frame delivered beyond those sent (other way)');
    await s.cleanup();
  });

  t.test('SALVOR_LINK_FAULT drop, dup, corrupt, reorder at 3 % each: every frame once, in order, intact', async (t) => {
    const s = await withLinkFault('drop=0.03,dup=0.03,corrupt=0.03,reorder=0.03,seed=7', () => ptySession());
    const COUNT = 1500;
    const atListener = expectStream(s.b, COUNT, frameStream(21, pool, 8192));
    const atConnector = expectStream(s.a, COUNT, frameStream(22, pool, 8192));
    await Promise.all([sendStream(s.a, COUNT, frameStream(21, pool, 8192)), sendStream(s.b, COUNT, frameStream(22, pool, 8192))]);
    t.equal(await atListener, COUNT, 'connecting -> listening: all frames');
    t.equal(await atConnector, COUNT, 'listening -> connecting: all frames');
    await sleep(100);
    const [sa, sb] = [s.a.stats, s.b.stats];
    t.equal(sa.framesDelivered + sb.framesDelivered, 2 * COUNT, 'and nothing more');
    t.ok(sa.retransmits > 0 && sb.retransmits > 0, `losses were repaired by retransmission (${sa.retransmits}, ${sb.retransmits})`);
    t.ok(sa.duplicatesDropped + sb.duplicatesDropped > 0, `duplicates were dropped (${sa.duplicatesDropped + sb.duplicatesDropped})`);
    t.ok(sa.garbage + sa.rejected + sb.garbage + sb.rejected > 0, 'corrupted packets were thrown away');
    await s.cleanup();
  });

  t.test('SALVOR_LINK_FAULT delay: slower, still complete', async (t) => {
    const s = await withLinkFault('delay=30', () => ptySession());
    const started = Date.now();
    const got = expectStream(s.b, 40, frameStream(31, pool, 2048));
    await sendStream(s.a, 40, frameStream(31, pool, 2048));
    t.equal(await got, 40);
    t.ok(Date.now() - started >= 30, 'each packet waited');
    await s.cleanup();
  });

  t.test('a wrong key is refused on both sides and no Link is made', async (t) => {
    const pty = await openPtyPair();
    const logs: Record<string, unknown>[] = [];
    const log = (l: Record<string, unknown>) => logs.push(l);
    const listener = await serialTransport.listen(new URL(`serial://${pty.a}?${BAUD}`), { psk: PSK, log });
    let links = 0;
    listener.onLink(() => links++);
    const started = Date.now();
    await t.rejects(serialTransport.connect(new URL(`serial://${pty.b}?${BAUD}`), { psk: randomBytes(32), log, timeoutMs: 5000 }), { code: 'SALVOR_AUTH' }, 'connect rejects SALVOR_AUTH');
    t.ok(Date.now() - started < 2000, 'at once, not after the timeout');
    await sleep(300);
    t.equal(links, 0, 'the listener emitted no Link');
    const refused = logs.filter((l) => l.event === 'auth-refused');
    t.match(refused, [{ side: 'server', peer: pty.a, reason: /different pre-shared key/ }], 'the listener logged the refusal');
    t.match(logs.find((l) => l.event === 'auth-refused' && l.side === 'client'), { peer: pty.b, reason: /different pre-shared key/ }, 'so did the connecting side');
    // The listener is unharmed: the right key still gets in.
    const accepted = new Promise<Link>((resolve) => listener.onLink(resolve));
    const a = await serialTransport.connect(new URL(`serial://${pty.b}?${BAUD}`), { psk: PSK });
    const b = await accepted;
    const got = expectStream(b, 3, frameStream(41, pool, 100));
    await sendStream(a, 3, frameStream(41, pool, 100));
    t.equal(await got, 3, 'a peer with the right key gets a session afterwards');
    await Promise.all([a.close(), b.close()]);
    await listener.close();
    await pty.close();
  });

  t.test('replayed bytes: nothing delivered twice, in the same session or a later one', async (t) => {
    const record = join(work, 'capture');
    const s = await ptySession(BAUD, {}, record);
    let links = 1;
    s.listener.onLink(() => links++);
    const got = expectStream(s.b, 20, frameStream(51, pool, 1000));
    await sendStream(s.a, 20, frameStream(51, pool, 1000));
    t.equal(await got, 20, 'session 1: 20 frames');
    await sleep(200); // socat writes its record as it relays
    const captured = readFileSync(`${record}.b-to-a`); // everything the connecting side sent: HELLO, READY, DATA, ACKs
    t.ok(captured.length > 20 * 1000 * 0.4, `captured ${captured.length} bytes`);
    await writeToTty(s.pty.b, captured);
    await sleep(500);
    t.equal(s.b.stats.framesDelivered, 20, 'replayed into the live session: no frame delivered again');
    t.ok(s.b.stats.duplicatesDropped >= 15, `the copies were dropped as duplicates (${s.b.stats.duplicatesDropped})`);
    t.equal(links, 1, 'the replayed HELLO made no new session');
    const more = expectStream(s.b, 1, frameStream(52, pool, 10), 21n);
    await sendStream(s.a, 1, frameStream(52, pool, 10));
    t.equal(await more, 1, 'the session goes on at seq 21');
    // A new session: the old bytes are sealed with the old key.
    await Promise.all([s.a.close(), s.b.close()]);
    const accepted = new Promise<Link>((resolve) => s.listener.onLink(resolve));
    const a2 = await serialTransport.connect(new URL(`serial://${s.pty.b}?${BAUD}`), { psk: PSK });
    const b2 = (await accepted) as SerialLink;
    let delivered = 0;
    b2.onFrame(() => delivered++);
    const rejectedBefore = b2.stats.rejected;
    await writeToTty(s.pty.b, captured);
    await sleep(500);
    t.equal(delivered, 0, 'session 2: nothing from the replay is delivered');
    t.ok(b2.stats.rejected - rejectedBefore >= 20, `the old packets do not open under the new key (${b2.stats.rejected - rejectedBefore} rejected)`);
    t.equal(links, 2, 'and the replayed HELLO starts no session (it is never confirmed)');
    await Promise.all([a2.close(), b2.close()]);
    await s.listener.close();
    await s.pty.close();
  });

  t.test('a frozen cable with frames in flight: SALVOR_LINK_LOST after the retries', async (t) => {
    const s = await ptySession(`${BAUD}&retries=3`, { timeoutMs: 60_000 });
    const got = expectStream(s.b, 5, frameStream(61, pool, 500));
    await sendStream(s.a, 5, frameStream(61, pool, 500));
    await got;
    await sleep(100); // the last ACK home
    const lost = closed(s.a);
    process.kill(s.pty.pid, 'SIGSTOP'); // socat stops relaying: the peer is gone, the tty stays open
    const started = Date.now();
    await s.a.send(1, Buffer.from('into the void'), 1n);
    const err = (await lost) as { code?: string; message: string };
    t.equal(err?.code, 'SALVOR_LINK_LOST', 'the sender closes with SALVOR_LINK_LOST');
    t.match(err.message, /after 3 retransmissions/, err.message);
    t.equal(s.a.stats.retransmits, 3, 'exactly the 3 retries the URL allows');
    t.ok(Date.now() - started < 10_000, `${Date.now() - started} ms, long before timeoutMs`);
    await t.rejects(s.a.send(1, Buffer.alloc(1), 1n), { code: 'SALVOR_LINK_LOST' }, 'later sends fail with the same error');
    const t0 = Date.now();
    await s.pty.close();
    await s.cleanup();
    t.comment(`cleanup ${Date.now() - t0} ms`);
  });

  t.test('an idle link whose peer goes silent: SALVOR_LINK_LOST after timeoutMs', async (t) => {
    const s = await ptySession(BAUD, { timeoutMs: 800 });
    const lostA = closed(s.a);
    const lostB = closed(s.b);
    await sleep(1000);
    t.equal(s.a.closed || s.b.closed, false, 'keepalives hold an idle link open past timeoutMs');
    process.kill(s.pty.pid, 'SIGSTOP');
    const started = Date.now();
    const [ea, eb] = (await Promise.all([lostA, lostB])) as { code?: string; message: string }[];
    t.match([ea?.code, eb?.code], ['SALVOR_LINK_LOST', 'SALVOR_LINK_LOST'], 'both ends give up');
    t.match(ea!.message, /nothing heard/);
    t.ok(Date.now() - started < 2500, `after ${Date.now() - started} ms`);
    await s.pty.close();
    await s.cleanup();
  });

  t.test('the connecting side restarts: its new HELLO starts a new session, the old link is lost', async (t) => {
    const s = await ptySession();
    const old = closed(s.b);
    const got = expectStream(s.b, 3, frameStream(71, pool, 100));
    await sendStream(s.a, 3, frameStream(71, pool, 100));
    await got;
    s.a.fail(new Error('simulated crash')); // releases the tty without a goodbye
    await closed(s.a);
    const accepted = new Promise<Link>((resolve) => s.listener.onLink(resolve));
    const a2 = await serialTransport.connect(new URL(`serial://${s.pty.b}?${BAUD}`), { psk: PSK });
    const b2 = await accepted;
    const err = (await old) as { code?: string; message: string };
    t.equal(err?.code, 'SALVOR_LINK_LOST', 'the old session ends with SALVOR_LINK_LOST');
    t.match(err.message, /new session/);
    const again = expectStream(b2, 2, frameStream(72, pool, 100));
    await sendStream(a2, 2, frameStream(72, pool, 100));
    t.equal(await again, 2, 'the new session starts again at seq 1');
    await Promise.all([a2.close(), b2.close()]);
    await s.listener.close();
    await s.pty.close();
  });

  t.test('flow=rtscts and the URL in normal form', async (t) => {
    const s = await ptySession('baud=921600&flow=rtscts');
    t.equal(s.a.url, `serial://${s.pty.b}?baud=921600&flow=rtscts`);
    t.equal(s.listener.url, `serial://${s.pty.a}?baud=921600&flow=rtscts`);
    t.equal(s.a.peer, s.pty.b, 'peer names the tty');
    const got = expectStream(s.b, 10, frameStream(81, pool, 4096));
    await sendStream(s.a, 10, frameStream(81, pool, 4096));
    t.equal(await got, 10);
    await s.cleanup();
  });

  t.test('connect with nobody listening: SALVOR_TIMEOUT, the tty released', async (t) => {
    let pty: PtyPair | undefined = await openPtyPair();
    const url = new URL(`serial://${pty.b}?${BAUD}`);
    await t.rejects(serialTransport.connect(url, { psk: PSK, timeoutMs: 400 }), { code: 'SALVOR_TIMEOUT' });
    const again = serialTransport.connect(url, { psk: PSK, timeoutMs: 300 });
    await t.rejects(again, { code: 'SALVOR_TIMEOUT' }, 'the tty was closed: it opens again (no lock left behind)');
    await pty.close();
    pty = undefined;
  });
}
