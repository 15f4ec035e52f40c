// Byte-difference bitmaps for the page delta encoder (bit i % 64 of masks[i / 64] is set when byte
// i of the two pages differs) and the run boundaries read from them. One implementation per
// instruction set, chosen once.
#pragma once
#include <cstddef>
#include <cstdint>

namespace salvor {
namespace pagedelta {

// n is a multiple of 64. Returns the OR of every mask written (zero: the pages are identical).
using DiffMaskFn = uint64_t (*)(const uint8_t* a, const uint8_t* b, size_t n, uint64_t* masks);

DiffMaskFn DiffMasks();

// Where a bitmap of `words` words changes value, in order: even entries start a changed run, odd
// entries end one (the page end closes a run left open). `out` has room for words * 64 + 64 entries.
// Returns the number of entries.
using BoundaryFn = size_t (*)(const uint64_t* masks, size_t words, uint32_t* out);

BoundaryFn RunBoundaries();

}  // namespace pagedelta
}  // namespace salvor
