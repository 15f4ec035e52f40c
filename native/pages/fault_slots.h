// Write faults on tracked pages (the mprotect and soft-dirty trackers): a table of ranges, each with
// a bitmap the SIGSEGV handler marks a written page in after making it writable again.
//
// A range stays in the table from the first tracker that claims it until its memory is unmapped,
// not until the tracker goes: a writer that faulted just before a tracker made the range writable
// again may reach the handler any time later, and is let through (its page made writable) rather
// than handed to the default action. Once the memory is unmapped the range is forgotten, so a later
// mapping at the same address is never touched. No clock is involved.
#pragma once
#include <atomic>
#include <cstdint>

#include "mapping.h"

namespace salvor {

struct FaultSlot;

// Gives `m`'s range a bitmap (one bit a page, zeroed by the caller). Returns nullptr with *err set:
// EBUSY when another tracker records faults on this mapping, EMFILE when the table is full.
FaultSlot* ClaimFaultSlot(Mapping* m, std::atomic<uint64_t>* bits, int* err);

// Stops recording into the slot's bitmap. When it returns no handler uses that bitmap any more (the
// caller may free it); faults in the range are still let through until the memory is unmapped.
void ReleaseFaultSlot(FaultSlot* slot);

// Called by ~Mapping before munmap: the range leaves the table, after any handler still in it is done.
void ForgetFaultRange(const uint8_t* base);

}  // namespace salvor
