// Tracking for kernels without userfaultfd WP_ASYNC or soft-dirty: tracked pages are read-only; the
// first write to one faults, the SIGSEGV handler (fault_slots.cc) makes it writable and records it.
// Ordering that loses no write: the handler unprotects, then sets the bit; Collect takes the bits,
// then protects the pages it took. (A page whose bit was taken is read-only again before the caller
// copies it, so a later write faults and is recorded for the next round.)
// Disarm makes the range writable after withdrawing the bitmap; a writer whose fault reaches the
// handler after that is let through for as long as the memory is mapped (fault_slots.h).
// Limit: the kernel cannot fault on our behalf, so read(2) into tracked memory fails with EFAULT.
#include <errno.h>
#include <sys/mman.h>

#include "fault_slots.h"
#include "tracker.h"

namespace salvor {
namespace {

class MprotectTracker : public Tracker {
 public:
  MprotectTracker(Mapping* m, std::atomic<uint64_t>* bits, size_t words) : Tracker(m), bits_(bits), words_(words) {}
  ~MprotectTracker() override { Disarm(); }

  // Takes the slot; false with *err set when the mapping's faults are recorded by another tracker.
  bool Claim(int* err) {
    slot_ = ClaimFaultSlot(mapping_, bits_, err);
    return slot_ != nullptr;
  }

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
    if (bits_ == nullptr) return;
    if (slot_ != nullptr) ReleaseFaultSlot(slot_);  // from here a fault in the range is only let through
    mprotect(mapping_->base(), mapping_->len(), PROT_READ | PROT_WRITE);
    delete[] bits_;
    bits_ = nullptr;
    slot_ = nullptr;
  }

 private:
  FaultSlot* slot_ = nullptr;
  std::atomic<uint64_t>* bits_;
  size_t words_;
};

}  // namespace

Tracker* NewMprotectTracker(Mapping* m, int* err, const char** syscall) {
  const size_t words = (m->len() / SystemPageSize() + 63) / 64;
  auto* bits = new std::atomic<uint64_t>[words];
  for (size_t i = 0; i < words; i++) bits[i].store(0);
  auto* t = new MprotectTracker(m, bits, words);
  if (!t->Claim(err)) {
    delete t;
    *syscall = "mprotect";
    return nullptr;
  }
  return t;
}

}  // namespace salvor
