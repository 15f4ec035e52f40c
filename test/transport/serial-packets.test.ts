import t from 'tap';
import { randomBytes } from 'node:crypto';
import { CobsSplitter, cobsDecode, cobsEncode, cobsMaxEncodedLength } from '../../lib/transport/cobs';
import { encodeFrame } from '../../lib/transport/frame';
import { seededRandom } from '../../lib/transport/link-faults';
import {
  HELLO_BYTES,
  MAC_BYTES,
  PacketKind,
  Role,
  SESSION_HEADER_BYTES,
  decodeHello,
  encodeHello,
  encodeSessionPacket,
  helloKey,
  openSessionPacket,
  sessionKey,
} from '../../lib/transport/serial-packet';
import { ReceiveBuffer } from '../../lib/transport/serial-receive';
import { RetransmitTimeout } from '../../lib/transport/serial-rto';

// The byte layer of the serial link (docs/formats/serial-link.md): COBS framing with 0x00 delimiters,
// the HELLO and session packet layouts with their MACs, checked offset by offset; and the two pieces of
// ARQ state that stand alone: the receive buffer and the retransmission timeout.

/** The COBS body of a packet, without the delimiters cobsEncode puts around it. */
const body = (packet: Uint8Array) => cobsEncode(packet, 0, 0);

t.test('COBS: round trip, no zero inside, the overhead bound', async (t) => {
  const random = seededRandom(5);
  const cases: Buffer[] = [Buffer.alloc(0), Buffer.alloc(1), Buffer.alloc(600), Buffer.from([1]), Buffer.from([0, 1, 0])];
  for (const n of [253, 254, 255, 508, 509, 1000]) cases.push(Buffer.alloc(n, 0x41), Buffer.concat([Buffer.alloc(n, 0x42), Buffer.alloc(1)]));
  for (let i = 0; i < 300; i++) {
    const b = randomBytes(Math.floor(random() * 3000));
    for (let j = 0; j < b.length; j++) if (random() < 0.2) b[j] = 0; // more zeros than chance gives
    cases.push(b);
  }
  let bad = 0;
  for (const c of cases) {
    const enc = body(c);
    if (enc.includes(0) || enc.length > cobsMaxEncodedLength(c.length) || !cobsDecode(enc)?.equals(c)) bad++;
  }
  t.equal(bad, 0, `${cases.length} packets: no 0x00 inside, within n + n/254 + 1, decoded back exactly`);
  t.same([...body(Buffer.from([0x11, 0, 0x22]))], [2, 0x11, 2, 0x22], 'the textbook example');
  t.same([...body(Buffer.alloc(254, 1)).subarray(0, 1)], [0xff], 'a full block of 254 bytes has code 0xff');
  t.same([...cobsEncode(Buffer.from([7]))], [0, 2, 7, 0], 'delimiters on both sides by default');
});

t.test('COBS: invalid encodings are refused', async (t) => {
  t.equal(cobsDecode(Buffer.alloc(0)), undefined, 'empty');
  t.equal(cobsDecode(Buffer.from([5, 1, 2])), undefined, 'a block longer than the run');
  t.equal(cobsDecode(Buffer.from([2, 1, 0, 1])), undefined, 'a zero code');
  t.equal(cobsDecode(Buffer.concat([Buffer.from([0xff]), Buffer.alloc(254, 1)])), undefined, 'ending on a 0xff block');
});

t.test('CobsSplitter: any chunking, resynchronises after garbage, bounds a run', async (t) => {
  const packets = Array.from({ length: 50 }, (_, i) => randomBytes(i * 37));
  const stream = Buffer.concat([randomBytes(100), ...packets.flatMap((p) => [cobsEncode(p), Buffer.from([0x33, 0x44])])]);
  for (const chunk of [1, 7, 4096, stream.length]) {
    const s = new CobsSplitter(4096);
    const out: Buffer[] = [];
    for (let o = 0; o < stream.length; o += chunk) out.push(...s.push(stream.subarray(o, o + chunk)));
    const found = packets.filter((p) => out.some((o) => o.equals(p))).length;
    t.equal(found, packets.length, `chunks of ${chunk}: every packet found after the garbage around it`);
  }
  const s = new CobsSplitter(10);
  t.same(s.push(Buffer.concat([Buffer.alloc(1), Buffer.alloc(100, 9), Buffer.alloc(1)])), [], 'a run past the limit is dropped');
  t.equal(s.discards.oversize, 1);
  t.same(s.push(cobsEncode(Buffer.from('ok'))), [Buffer.from('ok')], 'and the next packet is found');
});

t.test('HELLO: layout, CRC for noise, MAC for the key', async (t) => {
  const psk = randomBytes(32);
  const nonce = Buffer.alloc(16, 0xaa);
  const peerNonce = Buffer.alloc(16, 0xbb);
  const hello = encodeHello({ role: Role.Listening, nonce, peerNonce, window: 24 }, helloKey(psk));
  t.equal(hello.length, HELLO_BYTES);
  t.same([hello[0], hello[1], hello[2], hello[3]], [1, PacketKind.Hello, Role.Listening, 0], 'version, kind, role, flags');
  t.ok(hello.subarray(4, 20).equals(nonce) && hello.subarray(20, 36).equals(peerNonce), 'nonces at 4 and 20');
  t.equal(hello.readUInt16LE(36), 24, 'window at 36');
  t.match(decodeHello(hello, helloKey(psk)), { ok: true, hello: { role: Role.Listening, window: 24 } });
  const noisy = Buffer.from(hello);
  noisy[10] ^= 1;
  t.equal(decodeHello(noisy, helloKey(psk)), undefined, 'a flipped bit fails the CRC: line noise, dropped quietly');
  t.match(decodeHello(hello, helloKey(randomBytes(32))), { ok: false, reason: /different pre-shared key/ }, 'another key fails the MAC: refused');
});

t.test('session packets: layout, MAC over every byte, keys per session', async (t) => {
  const psk = randomBytes(32);
  const nc = randomBytes(16);
  const nl = randomBytes(16);
  const key = sessionKey(psk, nc, nl);
  t.notSame(key, sessionKey(psk, nl, nc), 'the nonces are ordered: connecting side first');
  const frame = encodeFrame({ type: 9, epoch: 3n, seq: 77n, payload: Buffer.from('payload') });
  const p = encodeSessionPacket({ kind: PacketKind.Data, role: Role.Connecting, flags: 0, window: 12, sack: 0x80000001, seq: 77n, ack: 5n }, [frame], key);
  t.equal(p.length, SESSION_HEADER_BYTES + frame.length + MAC_BYTES);
  t.same([p[0], p[1], p[2], p[3], p.readUInt16LE(4), p.readUInt16LE(6)], [1, PacketKind.Data, Role.Connecting, 0, 12, 0], 'version, kind, role, flags, window, reserved');
  t.same([p.readUInt32LE(8), p.readBigUInt64LE(12), p.readBigUInt64LE(20)], [0x80000001, 77n, 5n], 'sack at 8, seq at 12, ack at 20');
  t.ok(p.subarray(SESSION_HEADER_BYTES, SESSION_HEADER_BYTES + frame.length).equals(frame), 'the link frame at 28');
  t.match(openSessionPacket(p, key), { kind: PacketKind.Data, seq: 77n, ack: 5n, window: 12, sack: 0x80000001 });
  t.equal(openSessionPacket(p, sessionKey(psk, nc, randomBytes(16))), undefined, "another session's key does not open it");
  let opened = 0;
  for (let i = 0; i < p.length; i++) {
    const q = Buffer.from(p);
    q[i] ^= 0x40;
    if (openSessionPacket(q, key)) opened++;
  }
  t.equal(opened, 0, 'a change to any byte fails the MAC');
  const ack = encodeSessionPacket({ kind: PacketKind.Ack, role: Role.Listening, flags: 1, window: 3, sack: 0, seq: 0n, ack: 9n }, [], key);
  t.equal(ack.length, SESSION_HEADER_BYTES + MAC_BYTES, 'an ACK is 44 bytes');
  const padded = encodeSessionPacket({ kind: PacketKind.Ack, role: Role.Listening, flags: 0, window: 3, sack: 0, seq: 0n, ack: 9n }, [Buffer.from('x')], key);
  t.equal(openSessionPacket(padded, key), undefined, 'only DATA has a body');
});

t.test('ReceiveBuffer: duplicates, the window, SACK bits, frames waiting for a handler', async (t) => {
  const rx = new ReceiveBuffer(4);
  const f = (seq: bigint) => ({ type: 1, epoch: 0n, seq, payload: Buffer.alloc(0) });
  t.same(rx.arrive(f(2n)), { arrival: 'accepted', inOrder: 0 }, 'after a gap: held');
  t.equal(rx.sackBits(), 0b1, 'seq 1 is the gap (ack + 1); seq 2 = ack + 2 is bit 0');
  t.same(rx.arrive(f(4n)), { arrival: 'accepted', inOrder: 0 });
  t.equal(rx.sackBits(), 0b101, 'seq 4 = ack + 2 + 2: bit 2');
  t.same(rx.arrive(f(5n)), { arrival: 'beyond-window', inOrder: 0 }, 'seq 5 is past received + window');
  t.same(rx.arrive(f(1n)), { arrival: 'accepted', inOrder: 2 }, 'the gap fills: 1 and 2 in order');
  t.same(rx.arrive(f(2n)), { arrival: 'duplicate', inOrder: 0 }, 'a copy of a received frame');
  t.same(rx.arrive(f(4n)), { arrival: 'duplicate', inOrder: 0 }, 'a copy of a held frame');
  t.equal(rx.received, 2n);
  t.equal(rx.freeWindow(), 2, 'two frames wait for a handler: two places left');
  t.equal(rx.take()?.seq, 1n);
  t.equal(rx.freeWindow(), 3);
});

t.test('RetransmitTimeout: the line-rate floor, backoff, the cap', async (t) => {
  const rto = new RetransmitTimeout(11_520, 10_000); // 115200 baud
  t.equal(rto.ms, 500, 'no sample yet: the initial timeout');
  rto.sample(2);
  t.equal(rto.ms, 25, 'a fast round trip: the 25 ms floor');
  rto.sent(4187);
  t.ok(rto.ms > 25 + 363 && rto.ms < 25 + 364, `a 4 KiB packet takes 363 ms at 115200 baud: ${rto.ms.toFixed(1)} ms`);
  rto.expired();
  rto.expired();
  t.ok(rto.ms > 4 * 388, 'doubled twice');
  for (let i = 0; i < 10; i++) rto.expired();
  t.equal(rto.ms, 4000, 'capped at 4 s (half of timeoutMs would be 5 s)');
  rto.progressed();
  t.ok(rto.ms < 400, 'progress resets the backoff');
});
