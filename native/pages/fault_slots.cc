#include "fault_slots.h"

#include <errno.h>
#include <sys/mman.h>

#include <mutex>

namespace salvor {

struct FaultSlot {
  std::atomic<uintptr_t> base{0};
  std::atomic<size_t> len{0};
  std::atomic<std::atomic<uint64_t>*> bits{nullptr};
  bool claimed = false;  // under g_lock: a tracker owns `bits`
};

namespace {

// Slots are kept until their memory is unmapped (which for a region waits for the GC of its Buffers).
constexpr int kSlots = 512;
FaultSlot g_slots[kSlots];
std::atomic<int> g_used{0};  // slots [0, g_used) have ever held a range: the handler looks no further
std::atomic<int> g_inHandler{0};
std::mutex g_lock;

void WaitForHandlers() {
  while (g_inHandler.load() != 0) {
  }
}

bool OnWriteFault(void* addr) {
  g_inHandler.fetch_add(1);
  const uintptr_t a = reinterpret_cast<uintptr_t>(addr);
  const size_t pageSize = SystemPageSize();
  bool handled = false;
  const int used = g_used.load();
  for (int i = 0; i < used; i++) {
    FaultSlot& s = g_slots[i];
    const uintptr_t base = s.base.load();
    if (base == 0 || a < base || a >= base + s.len.load()) continue;
    std::atomic<uint64_t>* bits = s.bits.load();  // null: no tracker now; the write only has to run again
    const size_t page = (a - base) / pageSize;
    if (mprotect(reinterpret_cast<void*>(base + page * pageSize), pageSize, PROT_READ | PROT_WRITE) == 0) {
      if (bits != nullptr) bits[page / 64].fetch_or(uint64_t(1) << (page % 64));
    } else {
      // Every page toggled on its own splits the mapping; past vm.max_map_count the kernel says
      // ENOMEM. Then the whole range becomes writable and counts as written: more to send, none lost.
      const size_t len = s.len.load();
      if (mprotect(reinterpret_cast<void*>(base), len, PROT_READ | PROT_WRITE) != 0) break;
      if (bits != nullptr)
        for (size_t w = 0; w < (len / pageSize + 63) / 64; w++) bits[w].store(~uint64_t(0));
    }
    handled = true;
    break;
  }
  g_inHandler.fetch_sub(1);
  return handled;
}

}  // namespace

FaultSlot* ClaimFaultSlot(Mapping* m, std::atomic<uint64_t>* bits, int* err) {
  InstallFaultHandler(OnWriteFault);
  const uintptr_t base = reinterpret_cast<uintptr_t>(m->base());
  std::lock_guard<std::mutex> hold(g_lock);
  FaultSlot* slot = nullptr;
  const int used = g_used.load();
  for (int i = 0; i < used; i++)
    if (g_slots[i].base.load() == base) slot = &g_slots[i];  // live mappings never overlap: same memory
  if (slot != nullptr && slot->claimed) {
    *err = EBUSY;
    return nullptr;
  }
  if (slot == nullptr) {
    for (int i = 0; i < used && slot == nullptr; i++)
      if (g_slots[i].base.load() == 0) slot = &g_slots[i];
    if (slot == nullptr && used < kSlots) slot = &g_slots[used];
    if (slot == nullptr) {
      *err = EMFILE;
      return nullptr;
    }
    slot->len.store(m->len());
    slot->base.store(base);
    if (slot == &g_slots[used]) g_used.store(used + 1);
  }
  slot->bits.store(bits);
  slot->claimed = true;
  return slot;
}

void ReleaseFaultSlot(FaultSlot* slot) {
  {
    std::lock_guard<std::mutex> hold(g_lock);
    slot->bits.store(nullptr);
    slot->claimed = false;
  }
  WaitForHandlers();  // a handler that loaded the bitmap before the store above finishes with it first
}

void ForgetFaultRange(const uint8_t* base) {
  std::lock_guard<std::mutex> hold(g_lock);
  const int used = g_used.load();
  for (int i = 0; i < used; i++)
    if (g_slots[i].base.load() == reinterpret_cast<uintptr_t>(base)) {
      g_slots[i].base.store(0);
      g_slots[i].bits.store(nullptr);
      g_slots[i].claimed = false;
    }
  WaitForHandlers();  // a handler that matched the range finishes its mprotect before the munmap
}

}  // namespace salvor
