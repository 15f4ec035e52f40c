// Tracking by page fingerprints: the only backend that sees writes other processes make to a shared
// file, and the fallback for everything. Each chunk of the scan runs under a fault guard, so a file
// truncated during the scan ends the round with an error instead of a SIGBUS.
#include <errno.h>

#include "hash_scan.h"
#include "tracker.h"

namespace salvor {
namespace {

struct ChunkArgs {
  const uint8_t* data;
  size_t count, pageSize;
  uint8_t* hashes;
  uint32_t firstIndex;
  std::vector<uint32_t>* runs;
};

int GuardedChunk(const uint8_t* data, size_t count, size_t pageSize, uint8_t* hashes, uint32_t firstIndex,
                 std::vector<uint32_t>* runs) {
  ChunkArgs args{data, count, pageSize, hashes, firstIndex, runs};
  bool ok = RunGuarded(
      [](void* p) {
        auto* a = static_cast<ChunkArgs*>(p);
        ScanRange(a->data, a->count, a->pageSize, a->hashes, a->firstIndex, a->runs);
      },
      &args);
  return ok ? 0 : -EFAULT;
}

class HashTracker : public Tracker {
 public:
  HashTracker(Mapping* m, unsigned threads) : Tracker(m), hashes_(pages() * 8), threads_(threads) {}

  int Arm(const char** syscall) override {
    std::vector<uint32_t> ignored;
    return Scan(&ignored, syscall);
  }
  int Collect(std::vector<uint32_t>* runs, const char** syscall) override { return Scan(runs, syscall); }
  void Disarm() override {}

  void Restamp(const uint8_t* staged, const std::vector<uint32_t>& runs) override {
    const size_t pageSize = SystemPageSize();
    for (size_t i = 0; i + 1 < runs.size(); i += 2) {
      HashPages(staged, runs[i + 1], pageSize, hashes_.data() + size_t(runs[i]) * 8);
      staged += size_t(runs[i + 1]) * pageSize;
    }
  }

 private:
  int Scan(std::vector<uint32_t>* runs, const char** syscall) {
    std::vector<uint32_t> found;
    int rc = ScanRegion(mapping_->base(), pages(), SystemPageSize(), hashes_.data(), threads_, &found, GuardedChunk);
    runs->insert(runs->end(), found.begin(), found.end());
    if (rc != 0) *syscall = "read (the mapped file shrank)";
    return rc;
  }
  std::vector<uint8_t> hashes_;
  unsigned threads_;
};

}  // namespace

Tracker* NewHashTracker(Mapping* m, unsigned threads, int*, const char**) { return new HashTracker(m, threads); }

}  // namespace salvor
