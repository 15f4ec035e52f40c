import t, { type Test } from 'tap';
import { randomBytes } from 'node:crypto';
import { crc32c } from '../../bindings/crc';
import {
  encodeFrame,
  encodeFrameParts,
  FRAME_HEADER_BYTES,
  FrameDecoder,
  frameWireLength,
  isLinkControlType,
  MAX_FRAME_PAYLOAD,
} from '../../lib/transport/frame';
import type { Frame } from '../../lib/transport/link';

// The frame codec (docs/formats/frame.md): layout at fixed offsets, round trips whatever the chunking,
// and a SALVOR_BAD_FRAME naming the problem and its stream offset for each kind of damage.

const sample = (payload: Buffer, seq = 1n): Frame => ({ type: 0x42, epoch: 0x0102030405060708n, seq, payload });

function decodeAll(bytes: Buffer, chunk: number): Frame[] {
  const d = new FrameDecoder();
  const out: Frame[] = [];
  for (let i = 0; i < bytes.length; i += chunk) out.push(...d.push(bytes.subarray(i, i + chunk)));
  t.equal(d.bufferedBytes, 0, 'nothing left over');
  return out;
}

const sameFrame = (t: Test, got: Frame | undefined, want: Frame, what: string) => {
  t.ok(got, what);
  if (!got) return;
  t.same({ type: got.type, epoch: got.epoch, seq: got.seq }, { type: want.type, epoch: want.epoch, seq: want.seq }, `${what}: header`);
  t.ok(Buffer.compare(got.payload, want.payload) === 0, `${what}: payload`);
};

t.test('layout at the documented offsets', async (t) => {
  const payload = Buffer.from('hello');
  const bytes = encodeFrame(sample(payload, 0x1112131415161718n));
  t.equal(bytes.length, 24 + 5 + 4);
  t.equal(bytes[0], 1, 'version');
  t.equal(bytes[1], 0x42, 'type');
  t.equal(bytes.readUInt16LE(2), 0, 'flags');
  t.equal(bytes.readUInt32LE(4), 5, 'length');
  t.equal(bytes.readBigUInt64LE(8), 0x0102030405060708n, 'epoch, little-endian');
  t.equal(bytes.readBigUInt64LE(16), 0x1112131415161718n, 'seq');
  t.equal(bytes.subarray(24, 29).toString(), 'hello');
  t.equal(bytes.readUInt32LE(29), crc32c(bytes.subarray(0, 29)), 'CRC-32C over header and payload');
  t.equal(frameWireLength(5), 33);
  const parts = encodeFrameParts(sample(payload, 0x1112131415161718n));
  t.ok(Buffer.concat(parts).equals(bytes), 'encodeFrameParts gives the same bytes');
  t.ok(isLinkControlType(0xf0) && isLinkControlType(0xff) && !isLinkControlType(0xef), 'reserved types 0xf0..0xff');
});

t.test('round trip, empty to 16 MiB payloads, largest integers', async (t) => {
  const frames = [Buffer.alloc(0), randomBytes(1), randomBytes(4096), randomBytes(MAX_FRAME_PAYLOAD)].map((p, i) => ({
    type: i === 0 ? 0xff : i,
    epoch: (1n << 64n) - 1n,
    seq: BigInt(i + 1),
    payload: p,
  }));
  const stream = Buffer.concat(frames.map(encodeFrame));
  const got = decodeAll(stream, 65536);
  t.equal(got.length, frames.length);
  frames.forEach((f, i) => sameFrame(t, got[i], f, `frame ${i}`));
});

t.test('split across chunks at every byte', async (t) => {
  const frames = [sample(randomBytes(37), 1n), sample(Buffer.alloc(0), 2n), sample(randomBytes(3), 3n)];
  const stream = Buffer.concat(frames.map(encodeFrame));
  for (let cut = 0; cut <= stream.length; cut++) {
    const d = new FrameDecoder();
    const got = [...d.push(stream.subarray(0, cut)), ...d.push(stream.subarray(cut))];
    if (got.length !== 3 || !got.every((f, i) => f.seq === frames[i]!.seq && f.payload.equals(frames[i]!.payload)))
      t.fail(`cut at byte ${cut} gave ${got.length} frames`);
  }
  t.pass(`every one of the ${stream.length + 1} cut points gave the three frames`);
  const one = decodeAll(stream, 1);
  t.equal(one.length, 3, 'one byte at a time');
  frames.forEach((f, i) => sameFrame(t, one[i], f, `byte-at-a-time frame ${i}`));
});

t.test('encoder refuses what the format cannot carry', async (t) => {
  const bad = (f: Partial<Frame>, what: string) => t.throws(() => encodeFrame({ ...sample(Buffer.alloc(1)), ...f }), { code: 'SALVOR_BAD_INPUT' }, what);
  bad({ type: 256 }, 'type over 255');
  bad({ type: -1 }, 'negative type');
  bad({ epoch: -1n }, 'negative epoch');
  bad({ seq: 1n << 64n }, 'seq over 64 bits');
  bad({ payload: Buffer.alloc(MAX_FRAME_PAYLOAD + 1) }, 'payload over 16 MiB');
});

t.test('damage: each refused with SALVOR_BAD_FRAME, the problem and its offset', async (t) => {
  const good = encodeFrame(sample(Buffer.from('payload!'), 1n));
  const lead = encodeFrame(sample(Buffer.from('first'), 1n)); // damage is in the second frame, so offsets count the first
  const at = lead.length;
  const cases: { name: string; damage: (b: Buffer) => void; message: RegExp }[] = [
    { name: 'version 2', damage: (b) => (b[0] = 2), message: new RegExp(`version 2 .* at stream byte ${at}$`) },
    { name: 'version 0', damage: (b) => (b[0] = 0), message: new RegExp(`version 0 .* at stream byte ${at}$`) },
    {
      name: 'length over the maximum',
      damage: (b) => b.writeUInt32LE(MAX_FRAME_PAYLOAD + 1, 4),
      message: new RegExp(`payload length ${MAX_FRAME_PAYLOAD + 1} over .* at stream byte ${at + 4}$`),
    },
    { name: 'payload bit flipped', damage: (b) => (b[FRAME_HEADER_BYTES + 3]! ^= 0x10), message: new RegExp(`CRC-32C .* at stream byte ${at + 24 + 8}$`) },
    { name: 'seq changed', damage: (b) => (b[16]! ^= 1), message: /CRC-32C/ },
    { name: 'CRC changed', damage: (b) => (b[b.length - 1]! ^= 0x80), message: /CRC-32C/ },
    {
      name: 'flags set (CRC recomputed)',
      damage: (b) => {
        b.writeUInt16LE(1, 2);
        b.writeUInt32LE(crc32c(b.subarray(0, b.length - 4)), b.length - 4);
      },
      message: new RegExp(`flags 0x1 .* at stream byte ${at + 2}$`),
    },
  ];
  for (const c of cases) {
    const frame = Buffer.from(good);
    c.damage(frame);
    const d = new FrameDecoder();
    t.equal(d.push(lead).length, 1, `${c.name}: the frame before is delivered`);
    const err = (() => {
      try {
        d.push(frame);
      } catch (e) {
        return e as { code: string; message: string };
      }
      return undefined;
    })();
    t.equal(err?.code, 'SALVOR_BAD_FRAME', c.name);
    t.match(err?.message, c.message, `${c.name}: ${err?.message}`);
    t.throws(() => d.push(good), { code: 'SALVOR_BAD_FRAME' }, `${c.name}: the decoder stays failed`);
  }
});

t.test('a bad header is refused as soon as it is complete, without waiting for the payload', async (t) => {
  const frame = encodeFrame(sample(Buffer.alloc(100)));
  frame.writeUInt32LE(0xffffffff, 4);
  const d = new FrameDecoder();
  t.same(d.push(frame.subarray(0, 23)), [], 'header incomplete: nothing yet');
  t.throws(() => d.push(frame.subarray(23, 24)), { code: 'SALVOR_BAD_FRAME', message: /payload length 4294967295/ });
});

t.test('a partial frame waits for the rest', async (t) => {
  const frame = encodeFrame(sample(randomBytes(1000)));
  const d = new FrameDecoder();
  t.same(d.push(frame.subarray(0, 500)), []);
  t.equal(d.bufferedBytes, 500);
  t.equal(d.push(frame.subarray(500)).length, 1);
  t.equal(d.bufferedBytes, 0);
});
