/**
 * Writes the corpus of hostile frames (test/transport/corpus/): bytes a peer could send, each with the
 * receiving code it is for and the error that code must give. test/transport/hostile-frames.test.ts
 * feeds every file to its receiver on every CI run. Run after a format change:
 *   node dist/tools/fuzz/make-hostile-frames.js test/transport/corpus
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { crc32c } from '../../bindings/crc';
import { encodeFrame, FRAME_HEADER_BYTES, LINK_HELLO_TYPE } from '../../lib/transport/frame';
import { encodeHello, encodeSessionPacket, helloKey, PacketKind, Role, type SessionPacket } from '../../lib/transport/serial-packet';

/** The key the serial entries are sealed with (the test opens them with it, or with another). */
export const CORPUS_KEY = Buffer.from('hostile frame corpus key, 32 bytes!');

export interface CorpusEntry {
  file: string;
  /**
   * stream: bytes a TCP peer writes after TLS, read by a SocketLink (with replication's primary limits
   * for a 16-page region when `limits`); message: a replication message payload (decodeMessage);
   * serial-hello: a HELLO packet (decodeHello); serial-packet: a session packet (openSessionPacket);
   * serial-data: a sealed DATA packet whose frame is decoded as the serial link does.
   */
  receiver: 'stream' | 'message' | 'serial-hello' | 'serial-packet' | 'serial-data';
  limits?: boolean;
  what: string;
  /** The error code and a pattern its message must match; `refused` for a packet dropped without an error. */
  expect: { code: string; message: string } | 'refused';
}

const hello = () => encodeFrame({ type: LINK_HELLO_TYPE, epoch: 0n, seq: 0n, payload: Buffer.alloc(0) });
const frame = (type: number, seq: bigint, payload: Buffer) => encodeFrame({ type, epoch: 1n, seq, payload });
/** A frame's bytes with the CRC made right again after `edit` changed the header or payload. */
function resealed(bytes: Buffer, edit: (b: Buffer) => void): Buffer {
  const b = Buffer.from(bytes);
  edit(b);
  b.writeUInt32LE(crc32c(b.subarray(0, b.length - 4)), b.length - 4);
  return b;
}
const message = (header: string, tail = Buffer.alloc(0)) => {
  const json = Buffer.from(header);
  const len = Buffer.alloc(4);
  len.writeUInt32LE(json.length);
  return Buffer.concat([len, json, tail]);
};

export function corpus(): { entry: CorpusEntry; bytes: Buffer }[] {
  const ok = frame(1, 1n, Buffer.from('x'.repeat(64)));
  const bigHeader = Buffer.alloc(FRAME_HEADER_BYTES);
  bigHeader[0] = 1;
  bigHeader[1] = 0x01;
  bigHeader.writeUInt32LE(14 * 1024 * 1024, 4);
  bigHeader.writeBigUInt64LE(1n, 16);
  const session = (kind: SessionPacket['kind'], body: Buffer[], key = CORPUS_KEY) => encodeSessionPacket({ kind, role: Role.Connecting, flags: 0, window: 8, sack: 0, seq: 1n, ack: 0n }, body, key);
  const stream = (file: string, what: string, bytes: Buffer, message: string, limits = false) => ({ entry: { file, receiver: 'stream' as const, what, expect: { code: 'SALVOR_BAD_FRAME', message }, ...(limits ? { limits } : {}) }, bytes });
  return [
    stream('truncated-header.bin', 'the stream ends 10 bytes into a frame header', Buffer.concat([hello(), ok.subarray(0, 10)]), 'the stream ended 10 bytes into a frame'),
    stream('truncated-payload.bin', 'the stream ends inside a payload', Buffer.concat([hello(), ok.subarray(0, ok.length - 20)]), 'the stream ended \\d+ bytes into a frame'),
    stream('bad-version.bin', 'frame version 2', Buffer.concat([hello(), resealed(ok, (b) => (b[0] = 2))]), 'version 2 \\(only 1 is known\\)'),
    stream('oversized-length.bin', 'a header announcing a 4 GiB payload', Buffer.concat([hello(), resealed(ok, (b) => b.writeUInt32LE(0xfffffff0, 4)).subarray(0, FRAME_HEADER_BYTES)]), 'payload length 4294967280 over the 16777216-byte maximum'),
    stream('bad-crc.bin', 'one payload byte flipped', Buffer.concat([hello(), Buffer.from(ok).fill(0x79, FRAME_HEADER_BYTES, FRAME_HEADER_BYTES + 1)]), 'CRC-32C 0x[0-9a-f]{8} where the frame says'),
    stream('flags-set.bin', 'flags 0x1, CRC right', Buffer.concat([hello(), resealed(ok, (b) => b.writeUInt16LE(1, 2))]), 'flags 0x1 \\(version 1 defines none\\)'),
    stream('no-hello.bin', 'a data frame where the hello is due', frame(1, 0n, Buffer.from('hi')), 'the first frame is type 0x1, not a hello'),
    stream('seq-gap.bin', 'seq 2 after the hello (1 was lost)', Buffer.concat([hello(), frame(1, 2n, Buffer.from('hi'))]), 'frame seq 2 where 1 was due'),
    stream('seq-repeat.bin', 'seq 1 twice', Buffer.concat([hello(), ok, ok]), 'frame seq 1 where 2 was due'),
    stream('control-after-hello.bin', 'a link control type after the hello', Buffer.concat([hello(), frame(0xf3, 1n, Buffer.alloc(0))]), 'link control frame type 0xf3 after the hello'),
    stream('hello-14mib.bin', 'a replication hello announcing 14 MiB (only its header is sent)', Buffer.concat([hello(), bigHeader]), 'payload length 14680064 over the \\d+-byte limit for frame type 0x01', true),
    stream('link-hello-payload.bin', 'a link hello carrying a payload where limits apply', encodeFrame({ type: LINK_HELLO_TYPE, epoch: 0n, seq: 0n, payload: Buffer.alloc(100) }), 'payload length 100 over the 0-byte limit for frame type 0xf0', true),
    stream('ack-oversized.bin', 'an ack of 64 KiB', Buffer.concat([hello(), frame(0x05, 1n, Buffer.alloc(65536))]), 'payload length 65536 over the 4096-byte limit for frame type 0x05', true),
    { entry: { file: 'message-short.bin', receiver: 'message', what: 'a payload of 2 bytes', expect: { code: 'SALVOR_BAD_FRAME', message: 'replication message of 2 bytes is shorter than its length field' } }, bytes: Buffer.from([1, 0]) },
    { entry: { file: 'message-header-past-end.bin', receiver: 'message', what: 'a header length past the payload', expect: { code: 'SALVOR_BAD_FRAME', message: 'header of 100 bytes runs past the frame' } }, bytes: Buffer.concat([Buffer.from([100, 0, 0, 0]), Buffer.from('{}')]) },
    { entry: { file: 'message-header-too-big.bin', receiver: 'message', what: 'a 70,000-byte JSON header', expect: { code: 'SALVOR_BAD_FRAME', message: 'header of 70000 bytes is over the 65536-byte limit' } }, bytes: message(`{"identity":"${'a'.repeat(70000 - 15)}"}`) },
    { entry: { file: 'message-not-json.bin', receiver: 'message', what: 'a header that is not JSON', expect: { code: 'SALVOR_BAD_FRAME', message: 'header is not JSON' } }, bytes: message('{"epoch": 1,') },
    { entry: { file: 'serial-hello-other-key.bin', receiver: 'serial-hello', what: 'a HELLO sealed with another key', expect: { code: 'SALVOR_AUTH', message: 'the peer holds a different pre-shared key' } }, bytes: encodeHello({ role: Role.Connecting, nonce: Buffer.alloc(16, 7), peerNonce: Buffer.alloc(16), window: 8 }, helloKey(Buffer.from('some other key, 32 bytes long...'))) },
    { entry: { file: 'serial-hello-bad-role.bin', receiver: 'serial-hello', what: 'a HELLO with role 9', expect: { code: 'SALVOR_AUTH', message: 'role 9' } }, bytes: resealed(encodeHello({ role: Role.Connecting, nonce: Buffer.alloc(16, 7), peerNonce: Buffer.alloc(16), window: 8 }, helloKey(CORPUS_KEY)), (b) => (b[2] = 9)) },
    { entry: { file: 'serial-data-bad-hmac.bin', receiver: 'serial-packet', what: 'a DATA packet whose MAC does not verify', expect: 'refused' }, bytes: Buffer.from(session(PacketKind.Data, [ok])).fill(0x55, 40, 41) },
    { entry: { file: 'serial-data-other-key.bin', receiver: 'serial-packet', what: 'a DATA packet sealed with another key', expect: 'refused' }, bytes: session(PacketKind.Data, [ok], Buffer.from('some other key, 32 bytes long...')) },
    { entry: { file: 'serial-truncated.bin', receiver: 'serial-packet', what: 'a session packet cut short', expect: 'refused' }, bytes: session(PacketKind.Data, [ok]).subarray(0, 30) },
    { entry: { file: 'serial-ack-with-body.bin', receiver: 'serial-packet', what: 'an ACK carrying a body', expect: 'refused' }, bytes: session(PacketKind.Ack, [Buffer.from('extra')]) },
    { entry: { file: 'serial-data-bad-frame.bin', receiver: 'serial-data', what: 'a sealed DATA packet whose frame CRC is wrong', expect: { code: 'SALVOR_BAD_FRAME', message: 'CRC-32C' } }, bytes: session(PacketKind.Data, [Buffer.from(ok).fill(0x79, 30, 31)]) },
    { entry: { file: 'serial-data-over-limit.bin', receiver: 'serial-data', what: 'a sealed DATA packet whose ack frame is over its type limit', limits: true, expect: { code: 'SALVOR_BAD_FRAME', message: 'over the 4096-byte limit for frame type 0x05' } }, bytes: session(PacketKind.Data, [frame(0x05, 1n, Buffer.alloc(5000))]) },
  ];
}

if (require.main === module) {
  const dir = process.argv[2] ?? join(__dirname, '..', '..', '..', 'test', 'transport', 'corpus');
  const entries = corpus();
  for (const { entry, bytes } of entries) writeFileSync(join(dir, entry.file), bytes);
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify(entries.map((e) => e.entry), null, 1) + '\n');
  console.log(`${entries.length} hostile frames written to ${dir}`);
}
