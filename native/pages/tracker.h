// A dirty-page tracker over one Mapping. Arm() starts a round; Collect() appends the pages written
// since the previous Arm/Collect as flattened runs [first, count, ...] and re-arms in the same step,
// so a write racing with the caller's copy is reported in the next round. Both run on a worker
// thread, one at a time per tracker (the Region serialises them). Errors: -errno and *syscall.
#pragma once
#include <cstdint>
#include <vector>

#include "mapping.h"
#include "runs.h"

namespace salvor {

class Tracker {
 public:
  explicit Tracker(Mapping* m) : mapping_(m) {}
  virtual ~Tracker() = default;
  virtual int Arm(const char** syscall) = 0;
  virtual int Collect(std::vector<uint32_t>* runs, const char** syscall) = 0;
  // Stops tracking; leaves the memory readable and writable. Runs on the JS thread.
  virtual void Disarm() = 0;
  // The caller took `staged` as its copy of the pages in `runs` (contiguous, in run order). A tracker
  // that compares contents records what the caller now holds, so a page that changes and changes back
  // before the next round is still reported. Fault-based trackers need nothing. Worker thread.
  virtual void Restamp(const uint8_t* /*staged*/, const std::vector<uint32_t>& /*runs*/) {}

 protected:
  size_t pages() const { return mapping_->len() / SystemPageSize(); }
  Mapping* mapping_;
};



Tracker* NewUffdTracker(Mapping* m, int* err, const char** syscall);
Tracker* NewMprotectTracker(Mapping* m, int* err, const char** syscall);
Tracker* NewSoftDirtyTracker(Mapping* m, int* err, const char** syscall);
Tracker* NewHashTracker(Mapping* m, unsigned threads, int* err, const char** syscall);

}  // namespace salvor
