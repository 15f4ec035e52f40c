// Memory salvor tracks: an anonymous mapping or a MAP_SHARED file, shared by the Region object, the
// Buffer handed to JS and any collect running on a worker thread; unmapped when the last one lets go.
#pragma once
#include <atomic>
#include <csetjmp>
#include <cstddef>
#include <cstdint>
#include <string>

namespace salvor {

class Mapping {
 public:
  // Returns nullptr and sets *err/*syscall on failure.
  static Mapping* Anonymous(size_t len, int* err, const char** syscall);
  static Mapping* SharedFile(const std::string& path, size_t* len, int* err, const char** syscall);

  uint8_t* base() const { return base_; }
  size_t len() const { return len_; }
  int fd() const { return fd_; }
  bool shared() const { return fd_ >= 0; }
  // Bytes the backing file holds now (for a shared mapping; anonymous: len()). -errno on failure.
  long long FileSize() const;

  void Ref() { refs_.fetch_add(1); }
  void Unref();
  // Detaches the memory from the file (or discards it) so stale JS Buffers read zeros, never fault.
  void Retire();

 private:
  Mapping(uint8_t* base, size_t len, int fd) : base_(base), len_(len), fd_(fd) {}
  ~Mapping();
  uint8_t* base_;
  size_t len_;
  int fd_;
  std::atomic<int> refs_{1};
};

// Runs fn() with SIGBUS/SIGSEGV on this thread turned into a return value of false (a shared file
// truncated underneath a scan), instead of killing the process.
bool RunGuarded(void (*fn)(void*), void* arg);

// The process-wide SIGSEGV/SIGBUS handler: write faults on mprotect-tracked pages, then guarded
// sections, then whatever handler was installed before ours.
using WriteFaultHook = bool (*)(void* addr);
void InstallFaultHandler(WriteFaultHook hook);

size_t SystemPageSize();

}  // namespace salvor
