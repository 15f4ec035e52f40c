// Tracking by page fingerprints: the only backend that sees writes other processes make to a shared
// file, and the fallback for everything. Each chunk of the scan runs under a fault guard, so a file
// truncated during the scan ends the round with an error instead of a SIGBUS. A sparse file's holes
// are fingerprinted as zero pages without being read (SEEK_DATA/SEEK_HOLE), so a scan of a mostly
// empty file reads only its data and fills no page cache for the holes. A hole written just after
// the lseek is like a page written just after it was read: the next round reports it.
#include <errno.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

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
    int rc = mapping_->shared() ? ScanSparse(0, runs) : ScanPages(0, pages(), runs);
    if (rc != 0) *syscall = "read (the mapped file shrank)";
    return rc;
  }

  // Reads and rescans pages [first, end), appending their changed runs.
  int ScanPages(size_t first, size_t end, std::vector<uint32_t>* runs) {
    std::vector<uint32_t> found;
    const size_t pageSize = SystemPageSize();
    int rc = ScanRegion(mapping_->base() + first * pageSize, end - first, pageSize, hashes_.data() + first * 8, threads_, &found, GuardedChunk);
    for (size_t i = 0; i + 1 < found.size(); i += 2) AppendRun(runs, uint32_t(first + found[i]), found[i + 1]);
    return rc;
  }

  // Pages [first, end) lie in a hole: they hold zeros, whose fingerprint is known without a read.
  void ZeroPages(size_t first, size_t end, std::vector<uint32_t>* runs) {
    if (zeroHash_.empty()) {
      std::vector<uint8_t> zero(SystemPageSize(), 0);
      zeroHash_.resize(8);
      HashPages(zero.data(), 1, zero.size(), zeroHash_.data());
    }
    for (size_t p = first; p < end; p++)
      if (memcmp(hashes_.data() + p * 8, zeroHash_.data(), 8) != 0) {
        memcpy(hashes_.data() + p * 8, zeroHash_.data(), 8);
        AppendRun(runs, uint32_t(p), 1);
      }
  }

  // A shared file: data extents are read, holes are not. Where the file system cannot say, all is read.
  int ScanSparse(size_t first, std::vector<uint32_t>* runs) {
    const size_t pageSize = SystemPageSize(), total = pages();
    if (mapping_->FileSize() < (long long)mapping_->len()) return -EFAULT;  // past the end is not a hole
    const int fd = mapping_->fd();
    for (size_t at = first; at < total;) {
      off_t data = lseek(fd, off_t(at * pageSize), SEEK_DATA);
      if (data < 0 && errno == ENXIO) {  // no data from here to the end of the file
        ZeroPages(at, total, runs);
        return 0;
      }
      if (data < 0) return ScanPages(at, total, runs);
      off_t hole = lseek(fd, data, SEEK_HOLE);
      if (hole < 0) return ScanPages(at, total, runs);
      const size_t dataPage = std::max(at, size_t(data) / pageSize);
      const size_t holePage = std::min(total, (size_t(hole) + pageSize - 1) / pageSize);
      ZeroPages(at, dataPage, runs);
      if (holePage <= dataPage) return ScanPages(dataPage, total, runs);  // no progress: read the rest
      int rc = ScanPages(dataPage, holePage, runs);
      if (rc != 0) return rc;
      at = holePage;
    }
    return 0;
  }
  std::vector<uint8_t> hashes_;
  std::vector<uint8_t> zeroHash_;  // the fingerprint of a page of zeros, once needed
  unsigned threads_;
};

}  // namespace

Tracker* NewHashTracker(Mapping* m, unsigned threads, int*, const char**) { return new HashTracker(m, threads); }

}  // namespace salvor
