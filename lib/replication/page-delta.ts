/**
 * Page deltas for replication: the primary ships only the pages that changed since the version a
 * peer holds, each encoded against that version, in one checksummed stream per region
 * (docs/formats/page-delta.md). The peer applies the stream to its copy in place; a malformed or
 * corrupted stream is refused whole (SalvorError SALVOR_BAD_DELTA) and leaves the copy untouched.
 */
export {
  applyPageDelta,
  applyPageDeltas,
  applyPageDeltasAsync,
  encodePageDelta,
  encodePageDeltas,
  encodePageDeltasAsync,
  pageDeltaBackend,
  MAX_PAGE_SIZE,
  MIN_PAGE_SIZE,
  PAGE_DELTA_VERSION,
  type PageIndexList,
} from '../../bindings/page-delta';
