/**
 * The link frame, version 1 (docs/formats/frame.md): a 24-byte header, the payload, and a CRC-32C over
 * both. TCP carries frames back to back; serial wraps each one (docs/formats/serial-link.md).
 */
import { endianness } from 'node:os';
import { crc32c } from '../../bindings/crc';
import { SalvorError } from '../../bindings/salvor-error';
import type { Frame } from './link';

export const FRAME_VERSION = 1;
export const FRAME_HEADER_BYTES = 24;
export const FRAME_TRAILER_BYTES = 4;
/** The largest payload a frame may carry: 16 MiB. */
export const MAX_FRAME_PAYLOAD = 16 * 1024 * 1024;
/** Frame types 0xF0..0xFF belong to the link itself (control); callers' frames use 0x00..0xEF. */
export const FIRST_LINK_CONTROL_TYPE = 0xf0;

/**
 * Link control type 0xF0, hello: on a stream link (TCP) each side's first frame, with seq 0, sent as
 * soon as TLS is up. A side hands out the link only once the peer's hello has arrived, which proves
 * the peer accepted the handshake (a TLS client checks the server's certificate after the handshake,
 * and in TLS 1.3 a server checks the client's after the client thinks it is done).
 */
export const LINK_HELLO_TYPE = 0xf0;

const U64_MAX = (1n << 64n) - 1n;

export function isLinkControlType(type: number): boolean {
  return type >= FIRST_LINK_CONTROL_TYPE && type <= 0xff;
}

/** The bytes a frame with this payload length takes on the wire. */
export function frameWireLength(payloadLength: number): number {
  return FRAME_HEADER_BYTES + payloadLength + FRAME_TRAILER_BYTES;
}

function checkFrame(frame: Frame): void {
  const { type, epoch, seq, payload } = frame;
  if (!Number.isInteger(type) || type < 0 || type > 0xff) throw new SalvorError('SALVOR_BAD_INPUT', `frame type ${type} is not an integer 0..255`);
  if (typeof epoch !== 'bigint' || epoch < 0n || epoch > U64_MAX) throw new SalvorError('SALVOR_BAD_INPUT', `frame epoch ${String(epoch)} is not a bigint 0..2^64-1`);
  if (typeof seq !== 'bigint' || seq < 0n || seq > U64_MAX) throw new SalvorError('SALVOR_BAD_INPUT', `frame seq ${String(seq)} is not a bigint 0..2^64-1`);
  if (!(payload instanceof Uint8Array)) throw new SalvorError('SALVOR_BAD_INPUT', 'frame payload must be a Buffer or Uint8Array');
  if (payload.length > MAX_FRAME_PAYLOAD)
    throw new SalvorError('SALVOR_BAD_INPUT', `frame payload of ${payload.length} bytes is over the ${MAX_FRAME_PAYLOAD}-byte maximum`);
}

// Epoch and seq go through a native-order 64-bit array: Buffer.writeBigUInt64LE splits the BigInt with
// BigInt arithmetic, which showed in profiles of small frames.
const u64Scratch = new BigUint64Array(1);
const u64Bytes = new Uint8Array(u64Scratch.buffer);
const littleEndian = endianness() === 'LE';

function writeU64(out: Buffer, offset: number, value: bigint): void {
  if (!littleEndian) return void out.writeBigUInt64LE(value, offset);
  u64Scratch[0] = value;
  out.set(u64Bytes, offset);
}

function writeHeader(out: Buffer, offset: number, frame: Frame): void {
  out[offset] = FRAME_VERSION;
  out[offset + 1] = frame.type;
  out[offset + 2] = 0;
  out[offset + 3] = 0;
  out.writeUInt32LE(frame.payload.length, offset + 4);
  writeU64(out, offset + 8, frame.epoch);
  writeU64(out, offset + 16, frame.seq);
}

/** One frame as one Buffer: header, payload, CRC-32C. */
export function encodeFrame(frame: Frame): Buffer {
  const out = Buffer.allocUnsafe(frameWireLength(frame.payload?.length ?? 0));
  encodeFrameInto(frame, out, 0);
  return out;
}

/** Writes the frame's bytes into `out` at `offset` (which must have room: frameWireLength); returns the bytes written. */
export function encodeFrameInto(frame: Frame, out: Buffer, offset: number): number {
  checkFrame(frame);
  const len = frame.payload.length;
  const total = frameWireLength(len);
  if (!Number.isInteger(offset) || offset < 0 || offset + total > out.length)
    throw new SalvorError('SALVOR_BAD_INPUT', `no room for a ${total}-byte frame at offset ${offset} of a ${out.length}-byte buffer`);
  writeHeader(out, offset, frame);
  out.set(frame.payload, offset + FRAME_HEADER_BYTES);
  const end = offset + FRAME_HEADER_BYTES + len;
  out.writeUInt32LE(crc32c(out.subarray(offset, end)), end);
  return total;
}

/**
 * The same bytes as encodeFrame, as header, payload (not copied) and trailer, for a writer that
 * gathers them itself (one writev) instead of copying a large payload.
 */
export function encodeFrameParts(frame: Frame): [Buffer, Uint8Array, Buffer] {
  checkFrame(frame);
  const header = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
  writeHeader(header, 0, frame);
  const trailer = Buffer.allocUnsafe(FRAME_TRAILER_BYTES);
  trailer.writeUInt32LE(crc32c(frame.payload, crc32c(header)), 0);
  return [header, frame.payload, trailer];
}

/**
 * The largest payload a receiver takes in a frame of `type` (at most MAX_FRAME_PAYLOAD). The decoder
 * asks it as soon as a frame's header is in, before it buffers the payload, so a peer cannot make it
 * hold more than the message it announces is allowed to be.
 */
export type FrameLimit = (type: number) => number;

function badFrame(what: string, offset: number): SalvorError {
  return new SalvorError('SALVOR_BAD_FRAME', `bad frame: ${what} at stream byte ${offset}`);
}

/**
 * Turns a byte stream back into frames, whatever the chunking. A frame is returned only once its CRC
 * has been checked. After an error the decoder stays failed (the stream position is lost): every later
 * push throws the same error.
 */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;
  /** Stream offset of the first buffered byte (the start of the frame being assembled). */
  private offset = 0;
  private failure: SalvorError | undefined;
  /** Payload length of the frame whose header has been checked, or -1 while the header is incomplete. */
  private pendingLength = -1;
  /** The buffer of a frame that spans chunks, `filled` bytes of it in so far. */
  private assembly: Buffer | undefined;
  private filled = 0;

  constructor(private readonly limit?: FrameLimit) {}

  /** Bytes taken in so far that are not yet part of a returned frame. */
  get bufferedBytes(): number {
    return this.buffered + this.filled;
  }

  push(chunk: Uint8Array): Frame[] {
    if (this.failure) throw this.failure;
    let bytes = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
    const frames: Frame[] = [];
    try {
      if (this.assembly) {
        // The rest of a frame that spans chunks goes straight into its buffer, while the bytes are hot.
        const n = Math.min(bytes.length, this.assembly.length - this.filled);
        this.assembly.set(n === bytes.length ? bytes : bytes.subarray(0, n), this.filled);
        this.filled += n;
        if (this.filled < this.assembly.length) return frames;
        const whole = this.assembly;
        this.assembly = undefined;
        this.filled = 0;
        frames.push(this.finish(whole));
        bytes = bytes.subarray(n);
      }
      if (bytes.length === 0) return frames;
      this.chunks.push(bytes);
      this.buffered += bytes.length;
      for (;;) {
        const frame = this.next();
        if (!frame) break;
        frames.push(frame);
      }
    } catch (err) {
      this.failure = err as SalvorError;
      this.chunks = [];
      this.buffered = 0;
      this.assembly = undefined;
      this.filled = 0;
      throw err;
    }
    return frames;
  }

  private next(): Frame | undefined {
    if (this.pendingLength < 0) {
      if (this.buffered < FRAME_HEADER_BYTES) return undefined;
      const head = this.peek(8);
      if (head[0] !== FRAME_VERSION) throw badFrame(`version ${head[0]} (only ${FRAME_VERSION} is known)`, this.offset);
      const len = head.readUInt32LE(4);
      if (len > MAX_FRAME_PAYLOAD) throw badFrame(`payload length ${len} over the ${MAX_FRAME_PAYLOAD}-byte maximum`, this.offset + 4);
      const cap = this.limit?.(head[1]!);
      if (cap !== undefined && len > cap) throw badFrame(`payload length ${len} over the ${cap}-byte limit for frame type 0x${head[1]!.toString(16).padStart(2, '0')}`, this.offset + 4);
      this.pendingLength = len;
    }
    const total = frameWireLength(this.pendingLength);
    if (this.buffered >= total) return this.finish(this.take(total));
    // Incomplete: gather what is here into the frame's own buffer; push() fills in the rest.
    this.filled = this.buffered;
    this.assembly = this.take(this.buffered, total);
    return undefined;
  }

  /** Checks one whole frame (header, payload, CRC) and returns it. */
  private finish(bytes: Buffer): Frame {
    const len = this.pendingLength;
    this.pendingLength = -1;
    const start = this.offset;
    this.offset += bytes.length;
    const want = bytes.readUInt32LE(FRAME_HEADER_BYTES + len);
    const got = crc32c(bytes.subarray(0, FRAME_HEADER_BYTES + len));
    if (got !== want)
      throw badFrame(`CRC-32C 0x${got.toString(16).padStart(8, '0')} where the frame says 0x${want.toString(16).padStart(8, '0')}`, start + FRAME_HEADER_BYTES + len);
    const flags = bytes.readUInt16LE(2);
    if (flags !== 0) throw badFrame(`flags 0x${flags.toString(16)} (version 1 defines none)`, start + 2);
    return {
      type: bytes[1]!,
      epoch: bytes.readBigUInt64LE(8),
      seq: bytes.readBigUInt64LE(16),
      payload: bytes.subarray(FRAME_HEADER_BYTES, FRAME_HEADER_BYTES + len),
    };
  }

  /** The first n buffered bytes (n <= buffered), copied only when they span chunks. */
  private peek(n: number): Buffer {
    const first = this.chunks[0]!;
    if (first.length >= n) return first;
    return Buffer.concat(this.chunks, n);
  }

  /**
   * Removes the first n buffered bytes (n <= buffered): a view when one chunk holds them, else one copy.
   * With `capacity`, always a copy, into a new buffer of that size.
   */
  private take(n: number, capacity?: number): Buffer {
    this.buffered -= n;
    const first = this.chunks[0]!;
    if (first.length >= n && capacity === undefined) {
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(capacity ?? n);
    let filled = 0;
    while (filled < n) {
      const chunk = this.chunks[0]!;
      const want = n - filled;
      if (chunk.length <= want) {
        out.set(chunk, filled);
        filled += chunk.length;
        this.chunks.shift();
      } else {
        out.set(chunk.subarray(0, want), filled);
        filled += want;
        this.chunks[0] = chunk.subarray(want);
      }
    }
    return out;
  }
}
