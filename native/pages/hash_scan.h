// Hash-scan dirty tracking: a 64-bit XXH64 fingerprint (seed 0) per page, recomputed each round and
// compared with the previous round's. It sees every write, including other processes' writes to a
// shared file, because it looks at the bytes rather than at faults or page-table bits.
//
// Fingerprints live in a caller-owned byte array, 8 bytes a page, u64 little-endian, so the
// same array can be a JS Buffer, a file, or a peer's copy. Page indices are u32.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace salvor {

// XXH64 of any byte string (the published algorithm; equals every conforming implementation).
uint64_t Xxh64(const uint8_t* data, size_t len, uint64_t seed);

// Fingerprints of `count` contiguous pages (pageSize a multiple of 32) into `out` (8 bytes a page,
// u64 LE). Each page's fingerprint is Xxh64(page, pageSize, 0); several pages are hashed at once.
void HashPages(const uint8_t* data, size_t count, size_t pageSize, uint8_t* out);

// Rehashes `count` pages from `data`, compares each with its slot in `hashes`, stores the new value,
// and appends the changed pages to `runs` as (first, count) pairs numbered from `firstIndex`, extending
// the last pair when the new one starts where it ends.
//
// Written so that a fault guard can wrap it (a MAP_SHARED file truncated under us raises SIGBUS):
// pages are read in small batches and a batch's fingerprints are stored, and its runs appended, only
// after all its bytes were read, so a siglongjmp out of a read leaves every stored fingerprint matched
// by a reported run. The function holds nothing that needs unwinding.
// A page written while it is read gets the fingerprint of what was read: a later write is seen next round.
void ScanRange(const uint8_t* data, size_t count, size_t pageSize, uint8_t* hashes, uint32_t firstIndex,
               std::vector<uint32_t>* runs);

// What ScanRegion runs on each chunk: ScanRange, or a guarded wrapper around it that returns a
// negative errno (for example -EFAULT after a SIGBUS) instead of 0.
using ScanChunkFn = int (*)(const uint8_t* data, size_t count, size_t pageSize, uint8_t* hashes,
                            uint32_t firstIndex, std::vector<uint32_t>* runs);

// Splits `pages` pages into up to `threads` contiguous chunks (0: DefaultScanThreads()), scans each on
// its own thread with `scan` (nullptr: ScanRange), and joins the chunks' runs, coalescing across chunk
// borders, into `runs` (cleared first). Returns 0, or the first chunk's error in chunk order; the runs
// of every chunk, failed ones included, are still joined so no consumed change is dropped.
int ScanRegion(const uint8_t* data, size_t pages, size_t pageSize, uint8_t* hashes, unsigned threads,
               std::vector<uint32_t>* runs, ScanChunkFn scan = nullptr);

constexpr unsigned kMaxScanThreads = 64;  // the most threads a scan may be asked for
unsigned DefaultScanThreads();  // min(hardware threads, 4)
const char* HashScanBackend();   // which page-hash kernel HashPages dispatches to

}  // namespace salvor
