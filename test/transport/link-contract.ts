import type { Test } from 'tap';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { MAX_FRAME_PAYLOAD } from '../../lib/transport/frame';
import type { Frame, Link } from '../../lib/transport/link';
import { seededRandom } from '../../lib/transport/link-faults';
import { activeResources, expectNoLeakedHandles } from './open-handles';

/**
 * The Link contract (lib/transport/link.ts), one suite for every backend. `makePair` returns two
 * connected, authenticated ends and a cleanup that closes whatever the pair opened.
 *
 * Besides link.ts's rules, the suite holds backends to one more, which backpressure rests on: a link
 * reads from its medium only once a frame handler is registered (a Link has no other way to be told
 * its receiver is slow), so a peer's sends stall instead of piling up in the receiver.
 */
export interface LinkPair {
  a: Link;
  b: Link;
  cleanup(): Promise<void> | void;
}

export type MakeLinkPair = () => Promise<LinkPair>;

/** Runs `body` on a fresh pair; afterwards checks cleanup closed every handle the pair opened. */
async function withPair(t: Test, makePair: MakeLinkPair, body: (pair: LinkPair) => Promise<void>): Promise<void> {
  const before = activeResources();
  const pair = await makePair();
  try {
    await body(pair);
  } finally {
    await pair.cleanup();
  }
  await expectNoLeakedHandles(t, before);
}

/** Resolves with the frames `link` receives until `count` have arrived; rejects if the link closes first. */
function receive(link: Link, count: number, check?: (frame: Frame, index: number) => string | undefined): Promise<Frame[]> {
  return new Promise((resolve, reject) => {
    const frames: Frame[] = [];
    let done = false;
    link.onClose((err) => {
      if (!done) reject(err ?? new Error(`link closed after ${frames.length} of ${count} frames`));
    });
    link.onFrame((frame) => {
      if (done) return;
      const problem = check?.(frame, frames.length);
      if (problem) {
        done = true;
        return reject(new Error(`frame ${frames.length}: ${problem}`));
      }
      frames.push(check ? { ...frame, payload: Buffer.alloc(0) } : frame);
      if (frames.length === count) {
        done = true;
        resolve(frames);
      }
    });
  });
}

/** A deterministic stream of frames: the same seed gives the same types, epochs and payloads on both ends. */
function frameSource(seed: number, pool: Buffer, maxSize: number) {
  const random = seededRandom(seed);
  return () => {
    const size = Math.floor(random() * (maxSize + 1));
    const offset = Math.floor(random() * (pool.length - size + 1));
    const type = Math.floor(random() * 0xf0);
    const epoch = BigInt(Math.floor(random() * 2 ** 32)) << 20n;
    return { type, epoch, payload: pool.subarray(offset, offset + size) };
  };
}

async function sendAll(link: Link, count: number, next: ReturnType<typeof frameSource>): Promise<number> {
  let bytes = 0;
  for (let i = 0; i < count; i++) {
    const f = next();
    await link.send(f.type, f.payload, f.epoch);
    bytes += f.payload.length;
  }
  return bytes;
}

function checker(next: ReturnType<typeof frameSource>) {
  return (frame: Frame, index: number): string | undefined => {
    const want = next();
    if (frame.seq !== BigInt(index + 1)) return `seq ${frame.seq}, want ${index + 1}`;
    if (frame.type !== want.type) return `type ${frame.type}, want ${want.type}`;
    if (frame.epoch !== want.epoch) return `epoch ${frame.epoch}, want ${want.epoch}`;
    if (!frame.payload.equals(want.payload)) return `payload of ${frame.payload.length} bytes differs from the ${want.payload.length} sent`;
    return undefined;
  };
}

/** Waits for the first onClose call and records how many calls follow. */
function closeWatch(link: Link): { calls: (Error | undefined)[]; first: Promise<Error | undefined> } {
  const calls: (Error | undefined)[] = [];
  const first = new Promise<Error | undefined>((resolve) =>
    link.onClose((err) => {
      calls.push(err);
      resolve(err);
    }),
  );
  return { calls, first };
}

export function runLinkContract(t: Test, name: string, makePair: MakeLinkPair): void {
  t.test(`Link contract: ${name}`, async (t) => {
    const pool = randomBytes(4 * 1024 * 1024);

    t.test('10k frames of 0..64 KiB each way at once: in order, exactly once, intact', async (t) => {
      await withPair(t, makePair, async ({ a, b }) => {
        const COUNT = 10_000;
        const MAX = 64 * 1024;
        const atB = receive(b, COUNT, checker(frameSource(1, pool, MAX)));
        const atA = receive(a, COUNT, checker(frameSource(2, pool, MAX)));
        const [sentAB, sentBA] = await Promise.all([sendAll(a, COUNT, frameSource(1, pool, MAX)), sendAll(b, COUNT, frameSource(2, pool, MAX))]);
        const [gotB, gotA] = await Promise.all([atB, atA]);
        t.equal(gotB.length, COUNT, 'a -> b: every frame, in order, payloads intact');
        t.equal(gotA.length, COUNT, 'b -> a: every frame, in order, payloads intact');
        t.ok(a.bytesOnWire >= sentAB + COUNT * 28, `a's bytesOnWire ${a.bytesOnWire} counts payloads and framing`);
        t.ok(b.bytesOnWire >= sentBA + COUNT * 28, `b's bytesOnWire ${b.bytesOnWire} counts payloads and framing`);
        await sleep(50);
        t.equal(gotB.length + gotA.length, 2 * COUNT, 'no frame after the last one sent');
      });
    });

    t.test('16 MiB frames, the largest allowed, both ways', async (t) => {
      await withPair(t, makePair, async ({ a, b }) => {
        const big = [randomBytes(MAX_FRAME_PAYLOAD), randomBytes(MAX_FRAME_PAYLOAD)];
        const atB = receive(b, 2);
        const atA = receive(a, 1);
        await Promise.all([a.send(7, big[0]!, 1n), a.send(8, big[1]!, 2n), b.send(9, big[1]!, 3n)]);
        const [gotB, gotA] = await Promise.all([atB, atA]);
        t.ok(gotB[0]!.payload.equals(big[0]!) && gotB[1]!.payload.equals(big[1]!), 'a -> b: two 16 MiB payloads intact');
        t.same(gotB.map((f) => [f.type, f.epoch, f.seq]), [[7, 1n, 1n], [8, 2n, 2n]]);
        t.ok(gotA[0]!.payload.equals(big[1]!), 'b -> a: 16 MiB intact');
        await t.rejects(a.send(1, Buffer.alloc(MAX_FRAME_PAYLOAD + 1), 1n), { code: 'SALVOR_BAD_INPUT' }, 'one byte more is refused');
        await t.rejects(a.send(0xf0, Buffer.alloc(1), 1n), { code: 'SALVOR_BAD_INPUT' }, 'types 0xf0..0xff are the link\'s own');
        const next = receive(b, 1);
        await a.send(10, Buffer.from('after'), 4n);
        const [after] = await next;
        t.same([after!.seq, after!.payload.toString()], [3n, 'after'], 'a refused send takes no seq and leaves the link working');
      });
    });

    t.test('backpressure: a receiver that does not read stalls the sender', async (t) => {
      await withPair(t, makePair, async ({ a, b }) => {
        const FRAMES = 1024;
        const payload = pool.subarray(0, 64 * 1024); // 64 MiB in all: more than any socket or window buffer
        let resolved = 0;
        const sends = Array.from({ length: FRAMES }, (_, i) => a.send(1, payload, BigInt(i)).then(() => resolved++));
        await sleep(300);
        t.ok(resolved < FRAMES, `with no reader, ${resolved} of ${FRAMES} sends resolved: the rest wait`);
        const stalledAt = resolved;
        await sleep(200);
        t.ok(resolved - stalledAt < FRAMES - stalledAt, 'and they stay waiting while nothing reads');
        const got = receive(b, FRAMES, (f, i) => (f.seq === BigInt(i + 1) && f.payload.equals(payload) ? undefined : `frame ${i} wrong`));
        await Promise.all(sends);
        t.equal(resolved, FRAMES, 'once the receiver reads, every send resolves');
        t.equal((await got).length, FRAMES, 'and every frame arrives in order');
      });
    });

    t.test('close: idempotent, onClose once, later sends refused with SALVOR_CLOSED', async (t) => {
      await withPair(t, makePair, async ({ a, b }) => {
        const atA = closeWatch(a);
        const atB = closeWatch(b);
        const got = receive(b, 100);
        for (let i = 0; i < 100; i++) await a.send(3, pool.subarray(i, i + 1000), 1n);
        await Promise.all([a.close(), a.close()]);
        await a.close();
        t.equal((await got).length, 100, 'frames sent before close() are delivered');
        t.equal(await atA.first, undefined, 'a closed cleanly: onClose without an error');
        await atB.first;
        await sleep(100);
        t.equal(atA.calls.length, 1, "a's onClose fired once");
        t.equal(atB.calls.length, 1, "b's onClose fired once when a closed");
        await t.rejects(a.send(1, Buffer.alloc(1), 1n), { code: 'SALVOR_CLOSED' }, 'send on the closed end');
        await t.rejects(b.send(1, Buffer.alloc(1), 1n), { code: 'SALVOR_CLOSED' }, 'send on the end whose peer closed');
        const late = await new Promise<Error | undefined | 'none'>((resolve) => {
          a.onClose(resolve);
          setTimeout(() => resolve('none'), 1000);
        });
        t.equal(late, undefined, 'a handler registered after the close is still called, once');
        await b.close();
        await b.close();
        t.equal(atB.calls.length, 1, "closing b afterwards does not call b's onClose again");
      });
    });

    t.test('close while sends wait: they settle, the frames they took arrive', async (t) => {
      await withPair(t, makePair, async ({ a, b }) => {
        const FRAMES = 512;
        const payload = pool.subarray(0, 64 * 1024);
        const sends = Array.from({ length: FRAMES }, () => a.send(1, payload, 1n).then(() => 'resolved', (e: { code?: string }) => e.code ?? 'error'));
        a.onFrame(() => {});
        await sleep(100);
        const closing = a.close();
        let arrived = 0;
        b.onFrame(() => arrived++);
        await closing;
        const outcomes = await Promise.all(sends);
        const kinds = new Set(outcomes);
        t.ok([...kinds].every((o) => o === 'resolved' || o === 'SALVOR_CLOSED'), `every send resolved or was refused SALVOR_CLOSED: ${[...kinds].join(', ')}`);
        const resolved = outcomes.filter((o) => o === 'resolved').length;
        await sleep(50);
        t.ok(arrived >= resolved, `${arrived} frames arrived, at least the ${resolved} whose send resolved`);
      });
    });
  });
}
