// Tracking by soft-dirty bits (pagemap bit 55, cleared by writing 4 to /proc/self/clear_refs), for
// kernels built with CONFIG_MEM_SOFT_DIRTY but without PAGEMAP_SCAN. Clearing is process-wide, so
// every soft-dirty tracker's bits are harvested before any clear. The kernel offers no atomic
// read-and-clear: a write that lands between the read of a page's bit and the clear is reported
// late only if it faults again; writers should be quiet during Collect (the policy in TS knows).
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <mutex>
#include <set>

#include "../sys/kernel_abi.h"
#include "tracker.h"

namespace salvor {
namespace {

class SoftDirtyTracker;
std::mutex g_lock;
std::set<SoftDirtyTracker*> g_trackers;

int ClearAll(const char** syscall) {
  int fd = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
  if (fd < 0) {
    *syscall = "open(/proc/self/clear_refs)";
    return -errno;
  }
  ssize_t n = write(fd, kabi::kClearRefsSoftDirty, 1);
  int e = errno;
  close(fd);
  if (n != 1) {
    *syscall = "write(/proc/self/clear_refs)";
    return -e;
  }
  return 0;
}

class SoftDirtyTracker : public Tracker {
 public:
  SoftDirtyTracker(Mapping* m, int pagemap) : Tracker(m), pagemap_(pagemap), pending_(pages(), false) {
    std::lock_guard<std::mutex> hold(g_lock);
    g_trackers.insert(this);
  }
  ~SoftDirtyTracker() override { Disarm(); }

  int Arm(const char** syscall) override {
    std::lock_guard<std::mutex> hold(g_lock);
    int rc = HarvestOthers(syscall);
    std::fill(pending_.begin(), pending_.end(), false);
    return rc != 0 ? rc : ClearAll(syscall);
  }

  int Collect(std::vector<uint32_t>* runs, const char** syscall) override {
    std::lock_guard<std::mutex> hold(g_lock);
    int rc = Harvest(syscall);
    if (rc == 0) rc = HarvestOthers(syscall);
    if (rc == 0) rc = ClearAll(syscall);
    if (rc != 0) return rc;
    for (size_t p = 0; p < pending_.size(); p++)
      if (pending_[p]) AppendRun(runs, uint32_t(p), 1);
    std::fill(pending_.begin(), pending_.end(), false);
    return 0;
  }

  void Disarm() override {
    if (pagemap_ < 0) return;
    std::lock_guard<std::mutex> hold(g_lock);
    g_trackers.erase(this);
    close(pagemap_);
    pagemap_ = -1;
  }

  // Reads this mapping's pagemap entries and remembers every soft-dirty page.
  int Harvest(const char** syscall) {
    const size_t pageSize = SystemPageSize();
    const size_t first = reinterpret_cast<uintptr_t>(mapping_->base()) / pageSize;
    std::vector<uint64_t> entries(4096);
    for (size_t done = 0; done < pending_.size();) {
      size_t n = std::min(entries.size(), pending_.size() - done);
      ssize_t got = pread(pagemap_, entries.data(), n * 8, off_t((first + done) * 8));
      if (got < 0) {
        if (errno == EINTR) continue;
        *syscall = "pread(/proc/self/pagemap)";
        return -errno;
      }
      if (got == 0) break;
      for (size_t i = 0; i < size_t(got) / 8; i++)
        if (entries[i] & kabi::kPagemapSoftDirty) pending_[done + i] = true;
      done += size_t(got) / 8;
    }
    return 0;
  }

 private:
  int HarvestOthers(const char** syscall) {
    for (SoftDirtyTracker* t : g_trackers)
      if (t != this) {
        int rc = t->Harvest(syscall);
        if (rc != 0) return rc;
      }
    return 0;
  }

  int pagemap_;
  std::vector<bool> pending_;
};

}  // namespace

// Kernels without CONFIG_MEM_SOFT_DIRTY accept the clear but never set the bit: a tracker on them
// would report nothing, so it is refused unless a scratch page shows the bit after a write.
bool KernelSetsSoftDirty(int pagemap) {
  static const bool works = [pagemap] {
    int err = 0;
    const char* syscall = "";
    Mapping* scratch = Mapping::Anonymous(SystemPageSize(), &err, &syscall);
    if (scratch == nullptr) return false;
    scratch->base()[0] = 1;
    bool ok = ClearAll(&syscall) == 0;
    scratch->base()[0] = 2;
    uint64_t entry = 0;
    off_t at = off_t(reinterpret_cast<uintptr_t>(scratch->base()) / SystemPageSize() * 8);
    ok = ok && pread(pagemap, &entry, 8, at) == 8 && (entry & kabi::kPagemapSoftDirty) != 0;
    scratch->Unref();
    return ok;
  }();
  return works;
}

Tracker* NewSoftDirtyTracker(Mapping* m, int* err, const char** syscall) {
  int pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  if (pagemap < 0) {
    *err = errno;
    *syscall = "open(/proc/self/pagemap)";
    return nullptr;
  }
  if (!KernelSetsSoftDirty(pagemap)) {
    close(pagemap);
    *err = EOPNOTSUPP;
    *syscall = "write(/proc/self/clear_refs)";
    return nullptr;
  }
  return new SoftDirtyTracker(m, pagemap);
}

}  // namespace salvor
