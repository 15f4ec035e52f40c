// Tracking for kernels without userfaultfd WP_ASYNC or soft-dirty: tracked pages are read-only; the
// first write to one faults, the SIGSEGV handler makes it writable and records it in a bitmap.
// Ordering that loses no write: the handler unprotects, then sets the bit; Collect takes the bits,
// then protects the pages it took. (A page whose bit was taken is read-only again before the caller
// copies it, so a later write faults and is recorded for the next round.)
// Limit: the kernel cannot fault on our behalf, so read(2) into tracked memory fails with EFAULT.
#include <errno.h>
#include <sys/mman.h>
#include <time.h>

#include <atomic>
#include <memory>
#include <mutex>

#include "tracker.h"

namespace salvor {
namespace {

constexpr int kSlots = 64;

// A slot keeps its range after its tracker is disarmed (bits null): a writer that faulted just before
// the range became writable again may reach the handler after Disarm, and must be let through, not
// handed to the default action. Never-used slots are taken first, so a disarmed range stays known.
struct Slot {
  std::atomic<uintptr_t> base{0};
  std::atomic<size_t> len{0};
  std::atomic<std::atomic<uint64_t>*> bits{nullptr};
  std::atomic<int64_t> disarmedAtMs{0};
  bool inUse = false;  // under g_slotsLock
};

// Only for this long after Disarm is a fault in the old range let through: later the addresses may
// belong to another mapping whose faults are not ours.
constexpr int64_t kDisarmGraceMs = 1000;

int64_t MonotonicMs() {  // clock_gettime is async-signal-safe
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

Slot g_slots[kSlots];
std::atomic<int> g_inHandler{0};
std::mutex g_slotsLock;

bool OnWriteFault(void* addr) {
  g_inHandler.fetch_add(1);
  const uintptr_t a = reinterpret_cast<uintptr_t>(addr);
  bool handled = false;
  for (Slot& s : g_slots) {
    uintptr_t base = s.base.load();
    if (base == 0 || a < base || a >= base + s.len.load()) continue;
    std::atomic<uint64_t>* bits = s.bits.load();
    const size_t page = (a - base) / SystemPageSize();
    if (bits == nullptr) {
      // Disarmed: the range is writable, or is being made so; the write only has to run again.
      if (MonotonicMs() - s.disarmedAtMs.load() > kDisarmGraceMs) break;
      handled = mprotect(reinterpret_cast<void*>(base + page * SystemPageSize()), SystemPageSize(), PROT_READ | PROT_WRITE) == 0;
      break;
    }
    if (mprotect(reinterpret_cast<void*>(base + page * SystemPageSize()), SystemPageSize(), PROT_READ | PROT_WRITE) == 0) {
      bits[page / 64].fetch_or(uint64_t(1) << (page % 64));
    } else {
      // Every page toggled on its own splits the mapping; past vm.max_map_count the kernel says
      // ENOMEM. Then the whole region becomes writable and counts as written: more to send, none lost.
      const size_t len = s.len.load();
      if (mprotect(reinterpret_cast<void*>(base), len, PROT_READ | PROT_WRITE) != 0) break;
      const size_t words = (len / SystemPageSize() + 63) / 64;
      for (size_t w = 0; w < words; w++) bits[w].store(~uint64_t(0));
    }
    handled = true;
    break;
  }
  g_inHandler.fetch_sub(1);
  return handled;
}

class MprotectTracker : public Tracker {
 public:
  MprotectTracker(Mapping* m, Slot* slot, std::atomic<uint64_t>* bits, size_t words)
      : Tracker(m), slot_(slot), bits_(bits), words_(words) {}
  ~MprotectTracker() override { Disarm(); }

  int Arm(const char** syscall) override {
    for (size_t i = 0; i < words_; i++) bits_[i].store(0);
    if (mprotect(mapping_->base(), mapping_->len(), PROT_READ) != 0) {
      *syscall = "mprotect";
      return -errno;
    }
    return 0;
  }

  int Collect(std::vector<uint32_t>* runs, const char** syscall) override {
    const size_t pageSize = SystemPageSize();
    const size_t total = pages();
    const size_t from = runs->size();
    for (size_t w = 0; w < words_; w++) {
      uint64_t taken = bits_[w].exchange(0);
      while (taken != 0) {
        int b = __builtin_ctzll(taken);
        taken &= taken - 1;
        size_t page = w * 64 + size_t(b);
        if (page < total) AppendRun(runs, uint32_t(page), 1);
      }
    }
    for (size_t i = from; i < runs->size(); i += 2)
      if (mprotect(mapping_->base() + size_t((*runs)[i]) * pageSize, size_t((*runs)[i + 1]) * pageSize, PROT_READ) != 0) {
        // Out of mappings (ENOMEM): protect the whole region in one piece. Protecting a page whose
        // bit is set again already is harmless: its next write faults and sets the bit once more.
        if (mprotect(mapping_->base(), mapping_->len(), PROT_READ) != 0) {
          *syscall = "mprotect";
          return -errno;
        }
        break;
      }
    return 0;
  }

  void Disarm() override {
    if (slot_ == nullptr) return;
    {
      std::lock_guard<std::mutex> hold(g_slotsLock);
      slot_->disarmedAtMs.store(MonotonicMs());
      slot_->bits.store(nullptr);  // from here a fault in the range is only let through
      slot_->inUse = false;
    }
    mprotect(mapping_->base(), mapping_->len(), PROT_READ | PROT_WRITE);
    while (g_inHandler.load() != 0) {
    }  // a handler that saw the bitmap finishes before it goes
    delete[] bits_;
    slot_ = nullptr;
  }

 private:
  Slot* slot_;
  std::atomic<uint64_t>* bits_;
  size_t words_;
};

}  // namespace

Tracker* NewMprotectTracker(Mapping* m, int* err, const char** syscall) {
  InstallFaultHandler(OnWriteFault);
  const size_t words = (m->len() / SystemPageSize() + 63) / 64;
  std::lock_guard<std::mutex> hold(g_slotsLock);
  Slot* slot = nullptr;
  for (Slot& s : g_slots)
    if (!s.inUse && (slot == nullptr || s.base.load() == 0)) slot = &s;  // a never-used slot first
  if (slot != nullptr) {
    Slot& s = *slot;
    s.inUse = true;
    s.bits.store(nullptr);
    s.base.store(0);
    auto* bits = new std::atomic<uint64_t>[words];
    for (size_t i = 0; i < words; i++) bits[i].store(0);
    s.len.store(m->len());
    s.bits.store(bits);
    s.base.store(reinterpret_cast<uintptr_t>(m->base()));
    return new MprotectTracker(m, &s, bits, words);
  }
  *err = EMFILE;
  *syscall = "mprotect";
  return nullptr;
}

}  // namespace salvor
