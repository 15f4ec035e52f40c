/**
 * Page fingerprints for hash-scan dirty tracking (native/pages/hash_scan.cc). A fingerprint is the
 * XXH64 (seed 0) of a page, stored as 8 bytes u64 little-endian per page. A scan recomputes every
 * page's fingerprint, stores it, and returns the pages whose fingerprint changed as flattened runs
 * `[first0, count0, first1, count1, ...]`, coalesced and in page order.
 *
 * What a scan guarantees: each stored fingerprint is of bytes the scan read, so a page written while
 * it is read is reported now or next round. A consumer that copies reported pages after the scan
 * should store the fingerprints of what it copied (`hashPages` on the copy, into the same slots of
 * `hashes`): otherwise a page changed after the scan and changed back before the next one would look
 * unchanged while the copy holds the intermediate bytes.
 */
import { addon, callNative, callNativeAsync } from './addon';
import { SalvorError } from './salvor-error';

/** Bytes of fingerprint per page in a `hashes` buffer. */
export const FINGERPRINT_BYTES = 8;
export const MIN_PAGE_SIZE = 512;
export const MAX_PAGE_SIZE = 65536;
/** Most threads one scan may use. */
export const MAX_SCAN_THREADS = 64;

function invalid(message: string): never {
  throw new SalvorError('SALVOR_EINVAL', message);
}

/** The checks the native side also makes, with one message per bad parameter; returns the page count. */
function checkRegion(name: string, region: Uint8Array, pageSize: number, hashes: Uint8Array, hashesName: string): number {
  if (!(region instanceof Uint8Array)) invalid(`${name}: region must be a Buffer or Uint8Array`);
  if (!Number.isInteger(pageSize) || pageSize < MIN_PAGE_SIZE || pageSize > MAX_PAGE_SIZE || (pageSize & (pageSize - 1)) !== 0)
    invalid(`${name}: pageSize must be a power of two from ${MIN_PAGE_SIZE} to ${MAX_PAGE_SIZE}, got ${String(pageSize)}`);
  if (region.length % pageSize !== 0) invalid(`${name}: region length ${region.length} is not a multiple of pageSize ${pageSize}`);
  const pages = region.length / pageSize;
  if (!(hashes instanceof Uint8Array)) invalid(`${name}: ${hashesName} must be a Buffer or Uint8Array`);
  if (hashes.length !== pages * FINGERPRINT_BYTES)
    invalid(`${name}: ${hashesName} must be exactly ${FINGERPRINT_BYTES} bytes per page (${pages * FINGERPRINT_BYTES} bytes for ${pages} pages), got ${hashes.length}`);
  return pages;
}

function checkThreads(name: string, threads: number | undefined): number {
  if (threads === undefined) return 0;
  if (!Number.isInteger(threads) || threads < 1 || threads > MAX_SCAN_THREADS)
    invalid(`${name}: threads must be an integer from 1 to ${MAX_SCAN_THREADS}, got ${String(threads)}`);
  return threads;
}

/** Fills `out` with the fingerprint of every page of `region` (synchronous, one thread). */
export function hashPages(region: Uint8Array, pageSize: number, out: Uint8Array): void {
  checkRegion('hashPages', region, pageSize, out, 'out');
  callNative(() => addon().hashPages(region, pageSize, out));
}

/**
 * Rescans `region` off the JS thread: updates `hashes` in place and resolves with the changed pages
 * as runs. Uses up to `threads` threads (default `defaultScanThreads()`), each on a contiguous chunk.
 * Bad arguments reject the promise. JS code must not change either buffer until the promise settles
 * (other threads and processes may write the region: that is what the scan is for).
 */
export async function scanPages(region: Uint8Array, pageSize: number, hashes: Uint8Array, threads?: number): Promise<Uint32Array> {
  checkRegion('scanPages', region, pageSize, hashes, 'hashes');
  const n = checkThreads('scanPages', threads);
  return await callNativeAsync(() => addon().scanPages(region, pageSize, hashes, n));
}

/** `scanPages` on the calling thread (tests, small regions); it still splits the work across `threads`. */
export function scanPagesSync(region: Uint8Array, pageSize: number, hashes: Uint8Array, threads?: number): Uint32Array {
  checkRegion('scanPagesSync', region, pageSize, hashes, 'hashes');
  const n = checkThreads('scanPagesSync', threads);
  return callNative(() => addon().scanPagesSync(region, pageSize, hashes, n));
}

/** XXH64 of any bytes (seed 0 unless given): the page fingerprint function, for single blobs. */
export function xxh64(buf: Uint8Array, seed?: bigint): bigint {
  if (!(buf instanceof Uint8Array)) invalid('xxh64: buf must be a Buffer or Uint8Array');
  if (seed !== undefined && (typeof seed !== 'bigint' || seed < 0n || seed > 0xffffffffffffffffn))
    invalid('xxh64: seed must be a bigint from 0 to 2^64-1');
  return callNative(() => addon().xxh64(buf, seed));
}

/** Which page-hash kernel the addon uses on this CPU ('avx512-8page', 'scalar'). */
export function hashScanBackend(): string {
  return addon().hashScanBackend;
}

/** The thread count a scan uses when none is given: min(hardware threads, 4). */
export function defaultScanThreads(): number {
  return addon().hashScanDefaultThreads;
}
