/**
 * Serial link packets, version 1 (docs/formats/serial-link.md): HELLO for the handshake, and the
 * session packets READY, DATA, ACK and CLOSE, each sealed with a 16-byte truncated HMAC-SHA256.
 * This file only lays out and checks bytes; serial-session.ts and serial-arq.ts give them meaning.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { crc32c } from '../../bindings/crc';

export const SERIAL_VERSION = 1;
export const NONCE_BYTES = 16;
export const MAC_BYTES = 16;
export const HELLO_BYTES = 60;
export const SESSION_HEADER_BYTES = 28;

export enum PacketKind {
  Hello = 1,
  Ready = 2,
  Data = 3,
  Ack = 4,
  Close = 5,
}

/** Who sent a packet: the side that called connect() or the side that listens. */
export enum Role {
  Connecting = 0,
  Listening = 1,
}

/** Session packet flags (byte 3). */
export const FLAG_ACK_NOW = 0x01;
export const FLAG_CLOSE_REPLY = 0x02;

export interface Hello {
  role: Role;
  nonce: Buffer;
  /** The peer's nonce this HELLO answers; all zeros in the connecting side's HELLO. */
  peerNonce: Buffer;
  /** Frames the sender buffers out of order (its receive window). */
  window: number;
}

export interface SessionPacket {
  kind: PacketKind.Ready | PacketKind.Data | PacketKind.Ack | PacketKind.Close;
  role: Role;
  flags: number;
  /** Frames after `ack` the sender of this packet can take now (its free receive buffer); 0 stops the peer. */
  window: number;
  /** Bit i: the sender holds seq ack + 2 + i (out of order). */
  sack: number;
  /** DATA: the frame's seq; 0 in the other kinds. */
  seq: bigint;
  /** Every seq up to and including this one has been received by the sender of this packet. */
  ack: bigint;
  /** DATA: one link frame (docs/formats/frame.md); empty otherwise. */
  body: Buffer;
}

const HELLO_KEY_LABEL = Buffer.from('salvor serial hello v1');

/** The key HELLOs are sealed with: only holders of the PSK can make or check one. */
export function helloKey(psk: Buffer): Buffer {
  return createHmac('sha256', psk).update(HELLO_KEY_LABEL).digest();
}

/** The session key: HMAC-SHA256(psk, connecting side's nonce || listening side's nonce). */
export function sessionKey(psk: Buffer, connectingNonce: Buffer, listeningNonce: Buffer): Buffer {
  return createHmac('sha256', psk).update(connectingNonce).update(listeningNonce).digest();
}

export function newNonce(): Buffer {
  return randomBytes(NONCE_BYTES);
}

function mac(key: Buffer, ...parts: Uint8Array[]): Buffer {
  const h = createHmac('sha256', key);
  for (const p of parts) h.update(p);
  return h.digest().subarray(0, MAC_BYTES);
}

export function encodeHello(hello: Hello, key: Buffer): Buffer {
  const out = Buffer.alloc(HELLO_BYTES);
  out[0] = SERIAL_VERSION;
  out[1] = PacketKind.Hello;
  out[2] = hello.role;
  hello.nonce.copy(out, 4);
  hello.peerNonce.copy(out, 20);
  out.writeUInt16LE(hello.window, 36);
  mac(key, out.subarray(0, 40)).copy(out, 40);
  out.writeUInt32LE(crc32c(out.subarray(0, 56)), 56);
  return out;
}

export type HelloCheck = { ok: true; hello: Hello } | { ok: false; reason: string };

/**
 * Checks a HELLO: undefined when the CRC-32C fails (line noise: dropped without a word), otherwise
 * the hello or, when it is well formed but its MAC does not verify, why it was refused.
 */
export function decodeHello(packet: Buffer, key: Buffer): HelloCheck | undefined {
  if (packet.length !== HELLO_BYTES || packet[1] !== PacketKind.Hello) return undefined;
  if (crc32c(packet.subarray(0, 56)) !== packet.readUInt32LE(56)) return undefined;
  if (packet[0] !== SERIAL_VERSION) return { ok: false, reason: `version ${packet[0]} (this side speaks ${SERIAL_VERSION})` };
  const role = packet[2];
  if (role !== Role.Connecting && role !== Role.Listening) return { ok: false, reason: `role ${role}` };
  if (!timingSafeEqual(mac(key, packet.subarray(0, 40)), packet.subarray(40, 56)))
    return { ok: false, reason: 'HELLO MAC does not verify: the peer holds a different pre-shared key' };
  return {
    ok: true,
    hello: {
      role,
      nonce: Buffer.from(packet.subarray(4, 20)),
      peerNonce: Buffer.from(packet.subarray(20, 36)),
      window: packet.readUInt16LE(36),
    },
  };
}

/** Lays out a session packet and seals it; a DATA body may be given in parts (header, payload, trailer). */
export function encodeSessionPacket(p: Omit<SessionPacket, 'body'>, body: Uint8Array[], key: Buffer): Buffer {
  const bodyLength = body.reduce((n, b) => n + b.length, 0);
  const out = Buffer.allocUnsafe(SESSION_HEADER_BYTES + bodyLength + MAC_BYTES);
  out[0] = SERIAL_VERSION;
  out[1] = p.kind;
  out[2] = p.role;
  out[3] = p.flags;
  out.writeUInt16LE(p.window, 4);
  out.writeUInt16LE(0, 6);
  out.writeUInt32LE(p.sack >>> 0, 8);
  out.writeBigUInt64LE(p.seq, 12);
  out.writeBigUInt64LE(p.ack, 20);
  let o = SESSION_HEADER_BYTES;
  for (const b of body) {
    out.set(b, o);
    o += b.length;
  }
  mac(key, out.subarray(0, o)).copy(out, o);
  return out;
}

/** True when the packet looks like a session packet (any kind but HELLO) of this version. */
export function isSessionPacket(packet: Buffer): boolean {
  return packet.length >= SESSION_HEADER_BYTES + MAC_BYTES && packet[0] === SERIAL_VERSION && packet[1]! >= PacketKind.Ready && packet[1]! <= PacketKind.Close;
}

/** The packet if its MAC verifies under `key`, else undefined (corrupted, forged, or another session's). */
export function openSessionPacket(packet: Buffer, key: Buffer): SessionPacket | undefined {
  if (!isSessionPacket(packet)) return undefined;
  const end = packet.length - MAC_BYTES;
  if (!timingSafeEqual(mac(key, packet.subarray(0, end)), packet.subarray(end))) return undefined;
  const kind = packet[1] as SessionPacket['kind'];
  const role = packet[2];
  if (role !== Role.Connecting && role !== Role.Listening) return undefined;
  if (kind !== PacketKind.Data && end !== SESSION_HEADER_BYTES) return undefined;
  return {
    kind,
    role,
    flags: packet[3]!,
    window: packet.readUInt16LE(4),
    sack: packet.readUInt32LE(8),
    seq: packet.readBigUInt64LE(12),
    ack: packet.readBigUInt64LE(20),
    body: packet.subarray(SESSION_HEADER_BYTES, end),
  };
}
