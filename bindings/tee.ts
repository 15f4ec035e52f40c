import { addon, callNative, callNativeAsync } from './addon';
import { SalvorError } from './salvor-error';

/**
 * The TEE driver's ioctls (linux/tee.h, docs/tee.md), with the argument structs laid out here. The
 * addon checks the header's sizes and request numbers at build time and exports them; `teeAbi()`
 * checks this file's layout against them once, so TS and C cannot drift apart.
 */
export type TeeIoctlOp = 'version' | 'shm-alloc' | 'shm-register' | 'open-session' | 'invoke' | 'cancel' | 'close-session';

export const PARAM_SIZE = 32;
const OPEN_SESSION_HEAD = 56;
const INVOKE_HEAD = 24;

export const ParamAttr = { NONE: 0, VALUE_INPUT: 1, VALUE_OUTPUT: 2, VALUE_INOUT: 3, MEMREF_INPUT: 5, MEMREF_OUTPUT: 6, MEMREF_INOUT: 7 } as const;
export const Login = { public: 0, user: 1, group: 2, application: 4 } as const;

/** One tee_ioctl_param: attr, then a, b, c (for a memref: offset, size, shm id). */
export interface RawParam {
  attr: number;
  a: bigint;
  b: bigint;
  c: bigint;
}

let checked = false;
function abi(): void {
  if (checked) return;
  const a = addon().teeAbi;
  if (a.paramSize !== PARAM_SIZE || a.openSessionArgSize !== OPEN_SESSION_HEAD || a.invokeArgSize !== INVOKE_HEAD || a.shmRegisterSize !== 24)
    throw new SalvorError('SALVOR_TEE_ABI', `the addon's linux/tee.h layout (${JSON.stringify(a)}) is not the one bindings/tee.ts writes`);
  checked = true;
}

export function teeRequests(): Record<TeeIoctlOp, number> {
  return addon().teeAbi.requests;
}

/** A UUID string as the 16 bytes TEE_IOC_OPEN_SESSION takes (RFC 4122 byte order, as OP-TEE's client does). */
export function uuidBytes(uuid: string): Buffer {
  const hex = uuid.replace(/-/g, '');
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) throw new SalvorError('SALVOR_BAD_INPUT', `'${uuid}' is not a UUID`);
  return Buffer.from(hex, 'hex');
}

function writeParams(buf: Buffer, at: number, params: RawParam[]): void {
  params.forEach((p, i) => {
    const o = at + i * PARAM_SIZE;
    buf.writeBigUInt64LE(BigInt(p.attr), o);
    buf.writeBigUInt64LE(p.a, o + 8);
    buf.writeBigUInt64LE(p.b, o + 16);
    buf.writeBigUInt64LE(p.c, o + 24);
  });
}

function readParams(buf: Buffer, at: number, n: number): RawParam[] {
  return Array.from({ length: n }, (_, i) => {
    const o = at + i * PARAM_SIZE;
    return { attr: Number(buf.readBigUInt64LE(o)), a: buf.readBigUInt64LE(o + 8), b: buf.readBigUInt64LE(o + 16), c: buf.readBigUInt64LE(o + 24) };
  });
}

export function encodeOpenSession(uuid: string, login: number, cancelId: number, params: RawParam[]): Buffer {
  const b = Buffer.alloc(OPEN_SESSION_HEAD + params.length * PARAM_SIZE);
  uuidBytes(uuid).copy(b, 0);
  b.writeUInt32LE(login, 32);
  b.writeUInt32LE(cancelId, 36);
  b.writeUInt32LE(params.length, 52);
  writeParams(b, OPEN_SESSION_HEAD, params);
  return b;
}

export function decodeOpenSession(b: Buffer): { session: number; ret: number; origin: number; params: RawParam[] } {
  return { session: b.readUInt32LE(40), ret: b.readUInt32LE(44), origin: b.readUInt32LE(48), params: readParams(b, OPEN_SESSION_HEAD, b.readUInt32LE(52)) };
}

export function encodeInvoke(func: number, session: number, cancelId: number, params: RawParam[]): Buffer {
  const b = Buffer.alloc(INVOKE_HEAD + params.length * PARAM_SIZE);
  b.writeUInt32LE(func, 0);
  b.writeUInt32LE(session, 4);
  b.writeUInt32LE(cancelId, 8);
  b.writeUInt32LE(params.length, 20);
  writeParams(b, INVOKE_HEAD, params);
  return b;
}

export function decodeInvoke(b: Buffer): { ret: number; origin: number; params: RawParam[] } {
  return { ret: b.readUInt32LE(12), origin: b.readUInt32LE(16), params: readParams(b, INVOKE_HEAD, b.readUInt32LE(20)) };
}

export function encodeCancel(cancelId: number, session: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt32LE(cancelId, 0);
  b.writeUInt32LE(session, 4);
  return b;
}

export function encodeCloseSession(session: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(session, 0);
  return b;
}

export function teeOpen(path: string): Promise<number> {
  abi();
  return callNativeAsync(() => addon().teeOpen(path), path);
}

export function teeIoctl(fd: number, op: TeeIoctlOp, arg: Buffer, mem?: Buffer): Promise<number> {
  abi();
  return callNativeAsync(() => addon().teeIoctl(fd, op, arg, mem));
}

/** TEE_IOC_VERSION: impl_id (1 OP-TEE, 2 AMD-TEE), impl_caps, gen_caps (bit 0 GlobalPlatform, bit 2 registered memory). */
export async function teeVersion(fd: number): Promise<{ implId: number; implCaps: number; genCaps: number }> {
  const b = Buffer.alloc(12);
  await teeIoctl(fd, 'version', b);
  return { implId: b.readUInt32LE(0), implCaps: b.readUInt32LE(4), genCaps: b.readUInt32LE(8) };
}

/** TEE_IOC_SHM_REGISTER of `mem` (kept referenced by the caller while registered); returns the id and the shm fd. */
export async function teeRegister(fd: number, mem: Buffer): Promise<{ id: number; shmFd: number }> {
  const b = Buffer.alloc(24);
  const shmFd = await teeIoctl(fd, 'shm-register', b, mem);
  return { id: b.readInt32LE(20), shmFd };
}

export function teeClose(fd: number): void {
  callNative(() => addon().teeClose(fd));
}
