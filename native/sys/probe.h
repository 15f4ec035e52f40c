// Feature probes for `salvor doctor`: each returns facts (booleans, counts, -errno and the syscall
// that said no) as a plain object; what they mean and which backend follows is decided in TS.
#pragma once
#include <napi.h>

#include <string>

namespace salvor {

// One system call's outcome: err is a positive errno (0 for success), as the probes record it.
struct ProbeStep {
  int err = 0;
  std::string syscall;
  std::string path;
};

// Sets a step from the current errno and returns false, so a failing probe reads `return Failed(...)`.
bool Failed(ProbeStep* step, const char* syscall, const std::string& path = "");
void Succeeded(ProbeStep* step, const char* syscall, const std::string& path = "");

// { errno: -err (0 on success), syscall, path? }: the same fields a thrown ErrnoError carries.
Napi::Object StepObject(Napi::Env env, const ProbeStep& step);

// An anonymous private read-write mapping, unmapped on scope exit.
class ScratchPages {
 public:
  explicit ScratchPages(size_t pages);
  ~ScratchPages();
  ScratchPages(const ScratchPages&) = delete;
  ScratchPages& operator=(const ScratchPages&) = delete;
  bool ok() const { return base_ != nullptr; }
  int err() const { return err_; }
  unsigned char* page(size_t i) const { return base_ + i * pageSize_; }
  size_t pageSize() const { return pageSize_; }
  size_t bytes() const { return pages_ * pageSize_; }

 private:
  unsigned char* base_ = nullptr;
  size_t pages_;
  size_t pageSize_;
  int err_ = 0;
};

// A file descriptor closed on scope exit.
class ScopedFd {
 public:
  explicit ScopedFd(int fd = -1) : fd_(fd) {}
  ~ScopedFd();
  ScopedFd(const ScopedFd&) = delete;
  ScopedFd& operator=(const ScopedFd&) = delete;
  int get() const { return fd_; }
  void reset(int fd);
  int release() {  // hands the descriptor to the caller, who closes it
    int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_;
};

void InitProbeCpu(Napi::Env env, Napi::Object exports);
void InitProbeMemory(Napi::Env env, Napi::Object exports);
void InitProbeDevices(Napi::Env env, Napi::Object exports);

}  // namespace salvor
