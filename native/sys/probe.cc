// Kernel and CPU feature probes for `salvor doctor`: shared step/scratch helpers and registration.
#include "probe.h"

#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../errors.h"
#include "../modules.h"

namespace salvor {

bool Failed(ProbeStep* step, const char* syscall, const std::string& path) {
  step->err = errno != 0 ? errno : EIO;
  step->syscall = syscall;
  step->path = path;
  return false;
}

void Succeeded(ProbeStep* step, const char* syscall, const std::string& path) {
  step->err = 0;
  step->syscall = syscall;
  step->path = path;
}

Napi::Object StepObject(Napi::Env env, const ProbeStep& step) {
  Napi::Object out = Napi::Object::New(env);
  out.Set("errno", Napi::Number::New(env, -step.err));
  out.Set("syscall", Napi::String::New(env, step.syscall));
  if (!step.path.empty()) out.Set("path", Napi::String::New(env, step.path));
  return out;
}

ScratchPages::ScratchPages(size_t pages) : pages_(pages), pageSize_(size_t(sysconf(_SC_PAGESIZE))) {
  void* p = mmap(nullptr, bytes(), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED)
    err_ = errno;
  else
    base_ = static_cast<unsigned char*>(p);
}

ScratchPages::~ScratchPages() {
  if (base_) munmap(base_, bytes());
}

ScopedFd::~ScopedFd() { reset(-1); }

void ScopedFd::reset(int fd) {
  if (fd_ >= 0) close(fd_);
  fd_ = fd;
}

void InitProbe(Napi::Env env, Napi::Object exports) {
  InitProbeCpu(env, exports);
  InitProbeMemory(env, exports);
  InitProbeDevices(env, exports);
}

}  // namespace salvor
