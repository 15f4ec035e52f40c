import { constants as bufferConstants } from 'node:buffer';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { markAsUntransferable } from 'node:worker_threads';
import type { CpuFacts, LibcudaFacts, LoopControlFacts, PagemapScanFacts, SoftDirtyFacts, UserfaultfdFacts } from './probe';
import type { NativeRegionClass } from './region';
import { SalvorError } from './salvor-error';
import type { TeeIoctlOp } from './tee';

/** The native addon's exports, typed. Only this folder loads the .node file. */
export interface NativeAddon {
  /** Hands native code the Buffer size limit of this Node. */
  configureBoundary(maxBufferLength: number): void;
  /** The kernel's page size (sysconf(_SC_PAGESIZE)): what regions and trackers count in. */
  pageSize: number;
  crc32c(buf: Uint8Array, seed?: number): number;
  crc32(buf: Uint8Array, seed?: number): number;
  crc32cBackend: string;
  verifySectors(region: Uint8Array, sectorSize: number, firstIndex: number): number[];
  verifySectorsAsync(region: Uint8Array, sectorSize: number, firstIndex: number): Promise<number[]>;
  sealSectors(region: Uint8Array, sectorSize: number, firstIndex: number): void;
  hashPages(region: Uint8Array, pageSize: number, out: Uint8Array): void;
  scanPages(region: Uint8Array, pageSize: number, hashes: Uint8Array, threads?: number): Promise<Uint32Array>;
  scanPagesSync(region: Uint8Array, pageSize: number, hashes: Uint8Array, threads?: number): Uint32Array;
  xxh64(buf: Uint8Array, seed?: bigint): bigint;
  hashScanBackend: string;
  hashScanDefaultThreads: number;
  deviceInfo(fd: number): { kind: 'file' | 'block' | 'char' | 'directory' | 'other'; size: number; logicalBlockSize: number };
  lockDevice(fd: number, exclusive: boolean): boolean;
  unlockDevice(fd: number): void;
  probeCpu(): CpuFacts;
  probeUserfaultfd(): UserfaultfdFacts;
  probePagemapScan(withWpMatching: boolean): PagemapScanFacts;
  probeSoftDirty(): SoftDirtyFacts;
  probeLoopControl(): LoopControlFacts;
  probeLibcuda(): LibcudaFacts;
  encodePageDelta(oldPage: Uint8Array, newPage: Uint8Array): Buffer;
  applyPageDelta(oldPage: Uint8Array, delta: Uint8Array): Buffer;
  encodePageDeltas(oldPages: Uint8Array, newPages: Uint8Array, pageSize: number, pageIndexes?: Uint32Array): Buffer;
  encodePageDeltasAsync(oldPages: Uint8Array, newPages: Uint8Array, pageSize: number, pageIndexes?: Uint32Array): Promise<Buffer>;
  applyPageDeltas(pages: Uint8Array, deltas: Uint8Array, pageSize: number): number;
  applyPageDeltasAsync(pages: Uint8Array, deltas: Uint8Array, pageSize: number): Promise<number>;
  pageDeltaBackend: string;
  Region: NativeRegionClass;
  measureWriteFaultCost(kind: 'uffd-wp' | 'mprotect' | 'soft-dirty', pages: number): number;
  /** Starts a native thread writing random pages of a Region; the returned function stops it and returns the write count. */
  startWriteLoad(region: object, seed: number, burstPages: number): () => number;
  /** One datagram to a unix socket path ('@name': abstract namespace); returns the bytes sent. */
  notifySocket(path: string, message: string): number;
  peerCredentials(fd: number): { pid: number; uid: number; gid: number };
  /** The TEE driver (linux/tee.h): open, one ioctl off the JS thread, close; bindings/tee.ts lays out the structs. */
  teeOpen(path: string): Promise<number>;
  teeIoctl(fd: number, op: TeeIoctlOp, arg: Buffer, mem?: Buffer): Promise<number>;
  teeClose(fd: number): void;
  teeAbi: { paramSize: number; openSessionArgSize: number; invokeArgSize: number; shmRegisterSize: number; requests: Record<TeeIoctlOp, number> };
}

let loaded: NativeAddon | undefined;

/** The package root (where binding.gyp is), from the source tree or from dist/. */
function packageRoot(): string {
  let dir = __dirname;
  while (!existsSync(join(dir, 'binding.gyp'))) {
    const up = dirname(dir);
    if (up === dir) throw new SalvorError('SALVOR_ADDON_LOAD', `cannot find the salvor package root above ${__dirname}`);
    dir = up;
  }
  return dir;
}

/** Loads the addon once. A failure lists the cause and the fix, since it blocks every command. */
export function addon(): NativeAddon {
  if (loaded) return loaded;
  const root = packageRoot();
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const load = require('node-gyp-build') as (dir: string) => NativeAddon;
    const native = load(root);
    native.configureBoundary(bufferConstants.MAX_LENGTH);
    loaded = pinningAsyncCalls(native);
  } catch (err) {
    const e = err as Error & { code?: string };
    throw new SalvorError(
      e.code === 'SALVOR_SELFTEST' ? 'SALVOR_SELFTEST' : 'SALVOR_ADDON_LOAD',
      `cannot load the salvor native addon from ${root}: ${e.message}. ` +
        'Rebuild it with `npm rebuild salvor` (needs python3, make and g++) or install a prebuild for this platform.',
    );
  }
  return loaded;
}

/** The calls whose buffers a pool thread uses after the call returns. */
const ASYNC_BUFFER_CALLS = ['verifySectorsAsync', 'scanPages', 'encodePageDeltasAsync', 'applyPageDeltasAsync'] as const;

/**
 * The addon with its async calls pinning their buffers first: each ArrayBuffer is marked
 * untransferable, so a postMessage or structuredClone transfer during the call copies it instead of
 * detaching it and freeing the memory under the pool thread (docs/api.md, "Buffers and worker
 * threads"). Done here rather than in native code because a call into JS from inside a native call
 * crashes a worker_thread that is being terminated. The exports object is a copy; the addon's own is
 * left as it was.
 */
function pinningAsyncCalls(native: NativeAddon): NativeAddon {
  const wrapped: NativeAddon = Object.create(Object.getPrototypeOf(native) as object | null) as NativeAddon;
  Object.defineProperties(wrapped, Object.getOwnPropertyDescriptors(native));
  for (const name of ASYNC_BUFFER_CALLS) {
    const call = native[name] as (...args: unknown[]) => unknown;
    Object.defineProperty(wrapped, name, {
      enumerable: true,
      value: (...args: unknown[]) => {
        for (const arg of args) if (ArrayBuffer.isView(arg)) markAsUntransferable(arg.buffer);
        return call(...args);
      },
    });
  }
  return wrapped;
}

/** Runs a native call, turning whatever it throws into a SalvorError naming the path involved. */
export function callNative<T>(fn: () => T, path?: string): T {
  try {
    return fn();
  } catch (err) {
    throw SalvorError.fromNative(err, path);
  }
}

export async function callNativeAsync<T>(fn: () => Promise<T>, path?: string): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw SalvorError.fromNative(err, path);
  }
}
