/**
 * Consistent Overhead Byte Stuffing: a packet becomes bytes with no 0x00 in them, so 0x00 can delimit
 * packets on a byte stream and a receiver resynchronises at the next 0x00 after garbage
 * (docs/formats/serial-link.md). Overhead: one byte per 254 bytes of packet, plus one.
 *
 * The packet is encoded as if a 0x00 followed it; every block with a code below 0xFF stands for its
 * bytes and a 0x00, and the decoder drops that final 0x00. The last block's code is therefore never 0xFF.
 */

export const COBS_DELIMITER = 0x00;

/** The most bytes cobsEncode returns for a packet of n bytes. */
export function cobsMaxEncodedLength(n: number): number {
  return n + Math.floor(n / 254) + 1;
}

/**
 * Encodes `packet` between `lead` and `trail` bytes of 0x00 delimiters, in one new Buffer.
 * The default (one of each) lets garbage just before a packet end at its leading delimiter.
 */
export function cobsEncode(packet: Uint8Array, lead = 1, trail = 1): Buffer {
  const src = Buffer.isBuffer(packet) ? packet : Buffer.from(packet.buffer, packet.byteOffset, packet.length);
  const out = Buffer.allocUnsafe(lead + cobsMaxEncodedLength(src.length) + trail);
  out.fill(COBS_DELIMITER, 0, lead);
  let o = lead;
  let pos = 0;
  for (;;) {
    const zero = src.indexOf(COBS_DELIMITER, pos);
    const end = zero < 0 ? src.length : zero;
    while (end - pos >= 254) {
      out[o++] = 0xff;
      o += src.copy(out, o, pos, pos + 254);
      pos += 254;
    }
    out[o++] = end - pos + 1;
    o += src.copy(out, o, pos, end);
    if (zero < 0) break;
    pos = zero + 1;
  }
  out.fill(COBS_DELIMITER, o, o + trail);
  return out.subarray(0, o + trail);
}

/** Decodes one delimiter-free COBS block sequence; undefined when it is not a valid encoding. */
export function cobsDecode(encoded: Uint8Array): Buffer | undefined {
  const n = encoded.length;
  if (n === 0) return undefined;
  const out = Buffer.allocUnsafe(n);
  let o = 0;
  let i = 0;
  let code = 0;
  while (i < n) {
    code = encoded[i]!;
    if (code === 0) return undefined;
    const end = i + code;
    if (end > n) return undefined;
    out.set(encoded.subarray(i + 1, end), o);
    o += code - 1;
    i = end;
    if (code < 0xff) out[o++] = 0;
  }
  if (code === 0xff) return undefined;
  return out.subarray(0, o - 1);
}

/** What CobsSplitter threw away, for counters and tests. */
export interface CobsDiscards {
  /** Runs between delimiters that were not valid COBS. */
  invalid: number;
  /** Runs longer than the packet limit (skipped up to the next delimiter). */
  oversize: number;
}

/**
 * Splits a byte stream at 0x00 delimiters and decodes each run, whatever the chunking. Invalid and
 * oversized runs are dropped and counted; empty runs (two delimiters in a row) are ignored.
 */
export class CobsSplitter {
  private parts: Buffer[] = [];
  private buffered = 0;
  private skipping = false;
  readonly discards: CobsDiscards = { invalid: 0, oversize: 0 };
  private readonly maxEncoded: number;

  constructor(maxPacketBytes: number) {
    this.maxEncoded = cobsMaxEncodedLength(maxPacketBytes);
  }

  push(chunk: Uint8Array): Buffer[] {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
    const packets: Buffer[] = [];
    let pos = 0;
    while (pos < buf.length) {
      const zero = buf.indexOf(COBS_DELIMITER, pos);
      const end = zero < 0 ? buf.length : zero;
      if (end > pos && !this.skipping) {
        this.parts.push(buf.subarray(pos, end));
        this.buffered += end - pos;
        if (this.buffered > this.maxEncoded) {
          this.discards.oversize++;
          this.skipping = true;
          this.parts = [];
          this.buffered = 0;
        }
      }
      if (zero < 0) break;
      if (this.buffered > 0) {
        const run = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, this.buffered);
        const packet = cobsDecode(run);
        if (packet) packets.push(packet);
        else this.discards.invalid++;
      }
      this.parts = [];
      this.buffered = 0;
      this.skipping = false;
      pos = zero + 1;
    }
    return packets;
  }
}
