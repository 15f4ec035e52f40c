// Tracking by soft-dirty bits (pagemap bit 55, cleared by writing 4 to /proc/self/clear_refs), for
// kernels built with CONFIG_MEM_SOFT_DIRTY but without PAGEMAP_SCAN. Clearing is process-wide, so
// every soft-dirty tracker's bits are harvested before any clear.
//
// The kernel offers no atomic read-and-clear, so a round write-protects before it reads: every
// soft-dirty region is made read-only, the bits are read, the clear is written, and the regions are
// made writable again. A write in that window faults into the handler of fault_slots.cc, which
// records the page in the tracker's late bitmap and lets the write run; the round reports the late
// pages with the harvested ones. Why nothing is lost:
//  - a write that completed before the region became read-only set its page's bit first (after a
//    clear, the kernel keeps pages write-protected until a write sets the bit), so the read sees it;
//  - a write after that faults: it is in the late bitmap before it runs, so this round or the next
//    reports it, and it lands either before the clear (reported now, copied after the round) or
//    after it (the clear write-protected the page again, so the kernel sets the bit: next round).
// Limit while a round runs: read(2) into the region fails with EFAULT, as with the mprotect tracker.
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <mutex>
#include <set>

#include "../sys/kernel_abi.h"
#include "fault_slots.h"
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
  SoftDirtyTracker(Mapping* m, int pagemap) : Tracker(m), pagemap_(pagemap), pending_(pages(), false),
        words_((pages() + 63) / 64), late_(new std::atomic<uint64_t>[words_]) {
    for (size_t w = 0; w < words_; w++) late_[w].store(0);
  }
  ~SoftDirtyTracker() override { Disarm(); }

  bool Claim(int* err) {
    slot_ = ClaimFaultSlot(mapping_, late_, err);
    if (slot_ == nullptr) return false;
    std::lock_guard<std::mutex> hold(g_lock);
    g_trackers.insert(this);
    return true;
  }

  int Arm(const char** syscall) override {
    std::lock_guard<std::mutex> hold(g_lock);
    int rc = Round(syscall);
    std::fill(pending_.begin(), pending_.end(), false);
    return rc;
  }

  int Collect(std::vector<uint32_t>* runs, const char** syscall) override {
    std::lock_guard<std::mutex> hold(g_lock);
    int rc = Round(syscall);
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
    if (slot_ != nullptr) ReleaseFaultSlot(slot_);
    delete[] late_;
    late_ = nullptr;
    close(pagemap_);
    pagemap_ = -1;
  }

 private:
  // Under g_lock: freeze every soft-dirty region, harvest every tracker's bits, clear, thaw, and
  // fold the late bitmaps in. Every tracker's pending set grows; only the caller's is reported now.
  static int Round(const char** syscall) {
    int rc = 0;
    std::vector<SoftDirtyTracker*> frozen;
    for (SoftDirtyTracker* t : g_trackers) {
      if (mprotect(t->mapping_->base(), t->mapping_->len(), PROT_READ) != 0) {
        *syscall = "mprotect";
        rc = -errno;
        break;
      }
      frozen.push_back(t);
    }
    if (rc == 0)
      for (SoftDirtyTracker* t : g_trackers)
        if ((rc = t->Harvest(syscall)) != 0) break;
    // A failed harvest must not clear: bits not yet read would be lost. They stay for the next round.
    if (rc == 0) rc = ClearAll(syscall);
    for (SoftDirtyTracker* t : frozen) mprotect(t->mapping_->base(), t->mapping_->len(), PROT_READ | PROT_WRITE);
    for (SoftDirtyTracker* t : g_trackers) t->TakeLate();
    return rc;
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

  void TakeLate() {
    for (size_t w = 0; w < words_; w++) {
      uint64_t taken = late_[w].exchange(0);
      while (taken != 0) {
        size_t page = w * 64 + size_t(__builtin_ctzll(taken));
        taken &= taken - 1;
        if (page < pending_.size()) pending_[page] = true;
      }
    }
  }

  int pagemap_;
  std::vector<bool> pending_;
  size_t words_;
  std::atomic<uint64_t>* late_;
  FaultSlot* slot_ = nullptr;
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
  auto* t = new SoftDirtyTracker(m, pagemap);
  if (!t->Claim(err)) {
    delete t;
    *syscall = "mprotect";
    return nullptr;
  }
  return t;
}

}  // namespace salvor
