/**
 * The page delta codec (docs/formats/page-delta.md): a page encoded against the version a peer
 * already holds, and a checksummed stream of such pages for a whole region. Arguments are checked
 * here, one TypeError per bad parameter; malformed deltas come back as SalvorError SALVOR_BAD_DELTA.
 */
import { addon, callNative, callNativeAsync } from './addon';

/** Format version carried in every kind byte and in the stream header. */
export const PAGE_DELTA_VERSION = 1;
export const MIN_PAGE_SIZE = 512;
export const MAX_PAGE_SIZE = 65536;

/** Page numbers within a region: strictly increasing, each below the region's page count. */
export type PageIndexList = readonly number[] | Uint32Array;

function isPageSize(n: number): boolean {
  return Number.isInteger(n) && n >= MIN_PAGE_SIZE && n <= MAX_PAGE_SIZE && (n & (n - 1)) === 0;
}

function checkBytes(fn: string, name: string, value: unknown): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array)) throw new TypeError(`${fn}: ${name} must be a Buffer or Uint8Array`);
}

function checkPage(fn: string, name: string, page: unknown): asserts page is Uint8Array {
  checkBytes(fn, name, page);
  if (!isPageSize(page.length))
    throw new TypeError(`${fn}: ${name} must be one page, a power of two from ${MIN_PAGE_SIZE} to ${MAX_PAGE_SIZE} bytes (got ${page.length})`);
}

function checkRegion(fn: string, name: string, region: unknown, pageSize: unknown): asserts region is Uint8Array {
  checkBytes(fn, name, region);
  if (typeof pageSize !== 'number' || !isPageSize(pageSize))
    throw new TypeError(`${fn}: pageSize must be a power of two from ${MIN_PAGE_SIZE} to ${MAX_PAGE_SIZE} (got ${String(pageSize)})`);
  if (region.length % pageSize !== 0)
    throw new TypeError(`${fn}: ${name} must be a whole number of ${pageSize}-byte pages (got ${region.length} bytes)`);
}

function checkEncodeArgs(fn: string, oldPages: unknown, newPages: unknown, pageSize: unknown, pageIndexes: unknown): Uint32Array | undefined {
  checkRegion(fn, 'oldPages', oldPages, pageSize);
  checkRegion(fn, 'newPages', newPages, pageSize);
  if (oldPages.length !== newPages.length)
    throw new TypeError(`${fn}: oldPages and newPages must have the same length (${oldPages.length} and ${newPages.length} bytes)`);
  if (pageIndexes === undefined) return undefined;
  if (!(pageIndexes instanceof Uint32Array) && !Array.isArray(pageIndexes))
    throw new TypeError(`${fn}: pageIndexes must be an array of page numbers or a Uint32Array`);
  const pageCount = oldPages.length / (pageSize as number);
  const list = pageIndexes as ArrayLike<unknown>;
  let previous = -1;
  for (let k = 0; k < list.length; k++) {
    const index = list[k];
    if (typeof index !== 'number' || !Number.isInteger(index) || index < 0 || index >= pageCount)
      throw new TypeError(`${fn}: pageIndexes[${k}] must be a page number below ${pageCount} (got ${String(index)})`);
    if (index <= previous) throw new TypeError(`${fn}: pageIndexes must be strictly increasing (pageIndexes[${k}] is ${index} after ${previous})`);
    previous = index;
  }
  return pageIndexes instanceof Uint32Array ? pageIndexes : Uint32Array.from(pageIndexes as readonly number[]);
}

function checkApplyArgs(fn: string, pages: unknown, deltas: unknown, pageSize: unknown): void {
  checkRegion(fn, 'pages', pages, pageSize);
  checkBytes(fn, 'deltas', deltas);
  const p = pages as Uint8Array;
  if (p.buffer === deltas.buffer) {
    const [pStart, dStart] = [p.byteOffset, deltas.byteOffset];
    if (pStart < dStart + deltas.byteLength && dStart < pStart + p.byteLength)
      throw new TypeError(`${fn}: deltas must not share memory with the pages they update`);
  }
}

/** Encodes newPage against oldPage (same size, one page). A 1-byte result means unchanged or all zero. */
export function encodePageDelta(oldPage: Uint8Array, newPage: Uint8Array): Buffer {
  checkPage('encodePageDelta', 'oldPage', oldPage);
  checkPage('encodePageDelta', 'newPage', newPage);
  if (oldPage.length !== newPage.length)
    throw new TypeError(`encodePageDelta: oldPage and newPage must have the same size (${oldPage.length} and ${newPage.length} bytes)`);
  return callNative(() => addon().encodePageDelta(oldPage, newPage));
}

/** The new page that `delta` describes, built from oldPage (which is left as it was). */
export function applyPageDelta(oldPage: Uint8Array, delta: Uint8Array): Buffer {
  checkPage('applyPageDelta', 'oldPage', oldPage);
  checkBytes('applyPageDelta', 'delta', delta);
  return callNative(() => addon().applyPageDelta(oldPage, delta));
}

/**
 * One stream holding every page of the region that differs (or, with pageIndexes, every listed page
 * that differs). Identical pages get no record; an unchanged region gives a 16-byte stream.
 */
export function encodePageDeltas(oldPages: Uint8Array, newPages: Uint8Array, pageSize: number, pageIndexes?: PageIndexList): Buffer {
  const indexes = checkEncodeArgs('encodePageDeltas', oldPages, newPages, pageSize, pageIndexes);
  return callNative(() => addon().encodePageDeltas(oldPages, newPages, pageSize, indexes));
}

/** encodePageDeltas on a worker thread. Leave both regions unchanged until the promise settles. */
export function encodePageDeltasAsync(oldPages: Uint8Array, newPages: Uint8Array, pageSize: number, pageIndexes?: PageIndexList): Promise<Buffer> {
  const indexes = checkEncodeArgs('encodePageDeltasAsync', oldPages, newPages, pageSize, pageIndexes);
  return callNativeAsync(() => addon().encodePageDeltasAsync(oldPages, newPages, pageSize, indexes));
}

/**
 * Applies a stream to `pages` in place, turning the old pages into the new ones; returns the number
 * of page records applied. The whole stream is checked first: when it is malformed nothing is written.
 */
export function applyPageDeltas(pages: Uint8Array, deltas: Uint8Array, pageSize: number): number {
  checkApplyArgs('applyPageDeltas', pages, deltas, pageSize);
  return callNative(() => addon().applyPageDeltas(pages, deltas, pageSize));
}

/** applyPageDeltas on a worker thread. Do not read or write `pages` until the promise settles. */
export function applyPageDeltasAsync(pages: Uint8Array, deltas: Uint8Array, pageSize: number): Promise<number> {
  checkApplyArgs('applyPageDeltasAsync', pages, deltas, pageSize);
  return callNativeAsync(() => addon().applyPageDeltasAsync(pages, deltas, pageSize));
}

/** Which byte-comparison path the encoder uses on this CPU (avx512bw, avx2, sse2 or portable). */
export function pageDeltaBackend(): string {
  return addon().pageDeltaBackend;
}
