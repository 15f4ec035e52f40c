// Probes of the kernel facilities dirty-page tracking can stand on: userfaultfd with WP_ASYNC,
// PAGEMAP_SCAN (plain, and write-protecting through an async uffd), and soft-dirty bits.
// Each probe exercises the feature on a few scratch pages of its own and undoes what it set up.
#include <errno.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>

#include "probe.h"
#include "kernel_abi.h"
#include "userfaultfd.h"

namespace salvor {
namespace {

constexpr size_t kScanPages = 4;
const char kPagemapPath[] = "/proc/self/pagemap";

// The shared opener (userfaultfd.h), its outcome recorded as the probe's steps.
int OpenUserfaultfdSteps(ProbeStep* viaSyscall, ProbeStep* viaDevice, bool* deviceTried) {
  UserfaultfdOpen opened = OpenUserfaultfd();
  *deviceTried = opened.deviceTried;
  viaSyscall->err = opened.syscallErr;
  viaSyscall->syscall = "userfaultfd";
  if (opened.deviceTried) {
    viaDevice->err = opened.deviceErr;
    viaDevice->syscall = opened.deviceSyscall;
    viaDevice->path = "/dev/userfaultfd";
  }
  return opened.fd;
}

// UFFDIO_API handshake; on success *granted holds every feature the kernel offers.
bool Handshake(int fd, uint64_t features, uint64_t* granted, ProbeStep* step) {
  kabi::UffdioApi api{kabi::kUffdApi, features, 0};
  if (ioctl(fd, kabi::kUffdioApi, &api) != 0) return Failed(step, "ioctl(UFFDIO_API)");
  Succeeded(step, "ioctl(UFFDIO_API)");
  *granted = api.features;
  return true;
}

// A userfaultfd in WP_ASYNC mode: write faults on protected pages are resolved by the kernel, so
// nothing ever waits on this fd. Returns -1 with the failing step in *step.
int OpenWpAsyncUffd(ProbeStep* step) {
  ProbeStep viaSyscall, viaDevice;
  bool deviceTried;
  ScopedFd fd(OpenUserfaultfdSteps(&viaSyscall, &viaDevice, &deviceTried));
  if (fd.get() < 0) {
    *step = deviceTried ? viaDevice : viaSyscall;
    return -1;
  }
  uint64_t granted = 0;
  if (!Handshake(fd.get(), kabi::kUffdFeatureWpAsync, &granted, step)) return -1;
  return fd.release();
}

// probeUserfaultfd() -> { open, device?, via, api?, features, wpAsync }
Napi::Value ProbeUserfaultfd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  ProbeStep viaSyscall, viaDevice, api;
  bool deviceTried;
  ScopedFd fd(OpenUserfaultfdSteps(&viaSyscall, &viaDevice, &deviceTried));
  out.Set("open", StepObject(env, viaSyscall));
  if (deviceTried) out.Set("device", StepObject(env, viaDevice));
  uint64_t features = 0;
  bool wpAsync = false;
  if (fd.get() < 0) {
    out.Set("via", env.Null());
  } else {
    out.Set("via", deviceTried ? "/dev/userfaultfd" : "userfaultfd");
    wpAsync = Handshake(fd.get(), kabi::kUffdFeatureWpAsync, &features, &api) &&
              (features & kabi::kUffdFeatureWpAsync) != 0;
    out.Set("api", StepObject(env, api));
    if (api.err != 0) {
      // The handshake runs once per fd: ask a fresh one for nothing, to learn what the kernel offers.
      ProbeStep ignoredA, ignoredB, ignoredApi;
      bool ignoredTried;
      ScopedFd plain(OpenUserfaultfdSteps(&ignoredA, &ignoredB, &ignoredTried));
      if (plain.get() >= 0) Handshake(plain.get(), 0, &features, &ignoredApi);
    }
  }
  out.Set("features", Napi::Number::New(env, double(features)));
  out.Set("wpAsync", wpAsync);
  return out;
}

// One PAGEMAP_SCAN over the scratch region; returns the number of pages reported, -1 on failure.
long ScanPages(int pagemap, const ScratchPages& region, uint64_t flags, uint64_t categoryMask, ProbeStep* step) {
  kabi::PageRegion vec[kScanPages];
  kabi::PmScanArg arg{};
  arg.size = sizeof(arg);
  arg.flags = flags;
  arg.start = reinterpret_cast<uintptr_t>(region.page(0));
  arg.end = arg.start + region.bytes();
  arg.vec = reinterpret_cast<uintptr_t>(vec);
  arg.vec_len = kScanPages;
  arg.category_mask = categoryMask;
  arg.return_mask = categoryMask;
  long n = ioctl(pagemap, kabi::kPagemapScan, &arg);
  if (n < 0) {
    Failed(step, "ioctl(PAGEMAP_SCAN)", kPagemapPath);
    return -1;
  }
  Succeeded(step, "ioctl(PAGEMAP_SCAN)", kPagemapPath);
  long pages = 0;
  for (long i = 0; i < n && i < long(kScanPages); i++) pages += long((vec[i].end - vec[i].start) / region.pageSize());
  return pages;
}

// The write-protect cycle dirty tracking relies on: protect written pages, see none written, write
// one, see exactly that one.
Napi::Object ProbeWpMatching(Napi::Env env, int pagemap, const ScratchPages& region) {
  Napi::Object wp = Napi::Object::New(env);
  ProbeStep step;
  long protectedPages = -1, writtenAfterProtect = -1, writtenAfterRewrite = -1;
  ScopedFd uffd(OpenWpAsyncUffd(&step));
  if (uffd.get() >= 0) {
    kabi::UffdioRegister reg{{reinterpret_cast<uintptr_t>(region.page(0)), region.bytes()}, kabi::kUffdRegisterModeWp, 0};
    if (ioctl(uffd.get(), kabi::kUffdioRegister, &reg) != 0) {
      Failed(&step, "ioctl(UFFDIO_REGISTER)");
    } else {
      const uint64_t flags = kabi::kPmScanWpMatching | kabi::kPmScanCheckWpAsync;
      protectedPages = ScanPages(pagemap, region, flags, kabi::kPageIsWritten, &step);
      if (protectedPages >= 0) writtenAfterProtect = ScanPages(pagemap, region, flags, kabi::kPageIsWritten, &step);
      if (writtenAfterProtect >= 0) {
        region.page(2)[0] = 2;
        writtenAfterRewrite = ScanPages(pagemap, region, flags, kabi::kPageIsWritten, &step);
      }
      kabi::UffdioRange range = reg.range;
      ioctl(uffd.get(), kabi::kUffdioUnregister, &range);
    }
  }
  wp.Set("step", StepObject(env, step));
  wp.Set("protectedPages", Napi::Number::New(env, double(protectedPages)));
  wp.Set("writtenAfterProtect", Napi::Number::New(env, double(writtenAfterProtect)));
  wp.Set("writtenAfterRewrite", Napi::Number::New(env, double(writtenAfterRewrite)));
  return wp;
}

// probePagemapScan(withWpMatching) -> { step, regionPages, presentPages, wp? }
Napi::Value ProbePagemapScan(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bool withWp = info.Length() > 0 && info[0].ToBoolean().Value();
  Napi::Object out = Napi::Object::New(env);
  ProbeStep step;
  long presentPages = -1;
  ScratchPages region(kScanPages);
  ScopedFd pagemap;
  if (!region.ok()) {
    errno = region.err();
    Failed(&step, "mmap");
  } else {
    for (size_t i = 0; i < kScanPages; i++) region.page(i)[0] = 1;
    pagemap.reset(open(kPagemapPath, O_RDONLY | O_CLOEXEC));
    if (pagemap.get() < 0)
      Failed(&step, "open", kPagemapPath);
    else
      presentPages = ScanPages(pagemap.get(), region, 0, kabi::kPageIsPresent, &step);
  }
  out.Set("step", StepObject(env, step));
  out.Set("regionPages", Napi::Number::New(env, double(kScanPages)));
  out.Set("presentPages", Napi::Number::New(env, double(presentPages)));
  if (withWp && presentPages >= 0) out.Set("wp", ProbeWpMatching(env, pagemap.get(), region));
  return out;
}

bool ReadPagemapEntry(int pagemap, const void* addr, size_t pageSize, uint64_t* entry, ProbeStep* step) {
  off_t offset = off_t(reinterpret_cast<uintptr_t>(addr) / pageSize * sizeof(uint64_t));
  if (pread(pagemap, entry, sizeof(*entry), offset) != ssize_t(sizeof(*entry))) return Failed(step, "pread", kPagemapPath);
  Succeeded(step, "pread", kPagemapPath);
  return true;
}

// probeSoftDirty() -> { clearRefs, pagemap?, cleanAfterClear, dirtyAfterWrite }
// Clearing soft-dirty bits is process-wide; that is harmless here since salvor tracks with them
// only through this same clear-then-read cycle.
Napi::Value ProbeSoftDirty(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  const char clearRefsPath[] = "/proc/self/clear_refs";
  ProbeStep clearRefs, pagemapStep;
  bool cleanAfterClear = false, dirtyAfterWrite = false, reachedPagemap = false;
  ScratchPages page(1);
  ScopedFd clear(open(clearRefsPath, O_WRONLY | O_CLOEXEC));
  if (!page.ok()) {
    errno = page.err();
    Failed(&clearRefs, "mmap");
  } else if (clear.get() < 0) {
    Failed(&clearRefs, "open", clearRefsPath);
  } else if (write(clear.get(), kabi::kClearRefsSoftDirty, 1) != 1) {
    Failed(&clearRefs, "write", clearRefsPath);
  } else {
    Succeeded(&clearRefs, "write", clearRefsPath);
    reachedPagemap = true;
    ScopedFd pagemap(open(kPagemapPath, O_RDONLY | O_CLOEXEC));
    uint64_t before = 0, after = 0;
    if (pagemap.get() < 0) {
      Failed(&pagemapStep, "open", kPagemapPath);
    } else if (ReadPagemapEntry(pagemap.get(), page.page(0), page.pageSize(), &before, &pagemapStep)) {
      page.page(0)[0] = 1;
      if (ReadPagemapEntry(pagemap.get(), page.page(0), page.pageSize(), &after, &pagemapStep)) {
        cleanAfterClear = (before & kabi::kPagemapSoftDirty) == 0;
        dirtyAfterWrite = (after & kabi::kPagemapPresent) != 0 && (after & kabi::kPagemapSoftDirty) != 0;
      }
    }
  }
  out.Set("clearRefs", StepObject(env, clearRefs));
  if (reachedPagemap) out.Set("pagemap", StepObject(env, pagemapStep));
  out.Set("cleanAfterClear", cleanAfterClear);
  out.Set("dirtyAfterWrite", dirtyAfterWrite);
  return out;
}

}  // namespace

void InitProbeMemory(Napi::Env env, Napi::Object exports) {
  exports.Set("probeUserfaultfd", Napi::Function::New(env, ProbeUserfaultfd, "probeUserfaultfd"));
  exports.Set("probePagemapScan", Napi::Function::New(env, ProbePagemapScan, "probePagemapScan"));
  exports.Set("probeSoftDirty", Napi::Function::New(env, ProbeSoftDirty, "probeSoftDirty"));
}

}  // namespace salvor
