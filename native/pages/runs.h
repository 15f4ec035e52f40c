// Flattened page runs [first, count, first, count, ...], as trackers and scans report them.
#pragma once
#include <cstdint>
#include <vector>

namespace salvor {

// Appends a run, extending the last one when contiguous.
inline void AppendRun(std::vector<uint32_t>* runs, uint32_t first, uint32_t count) {
  size_t n = runs->size();
  if (n >= 2 && (*runs)[n - 2] + (*runs)[n - 1] == first)
    (*runs)[n - 1] += count;
  else {
    runs->push_back(first);
    runs->push_back(count);
  }
}

}  // namespace salvor
