// Tracking through userfaultfd in WP_ASYNC mode plus PAGEMAP_SCAN (Linux 6.7+): the kernel resolves
// write faults on protected pages by itself and marks them written; one PAGEMAP_SCAN per round
// returns the written pages and write-protects them again in the same call, so no write is lost.
#include <errno.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../sys/kernel_abi.h"
#include "../sys/userfaultfd.h"
#include "tracker.h"

namespace salvor {
namespace {

constexpr size_t kVecLen = 512;

int OpenAsyncUffd(int* err, const char** syscall) {
  // WP_UNPOPULATED makes never-touched pages count as protected; ask for it, accept without it.
  for (uint64_t features : {kabi::kUffdFeatureWpAsync | kabi::kUffdFeatureWpUnpopulated, kabi::kUffdFeatureWpAsync}) {
    UserfaultfdOpen opened = OpenUserfaultfd();  // the same opener doctor's probe uses
    int fd = opened.fd;
    if (fd < 0) {
      *err = opened.err();
      *syscall = opened.failedSyscall();
      return -1;
    }
    kabi::UffdioApi api{kabi::kUffdApi, features, 0};
    if (ioctl(fd, kabi::kUffdioApi, &api) == 0) return fd;
    *err = errno;
    *syscall = "ioctl(UFFDIO_API)";
    close(fd);
  }
  return -1;
}

class UffdTracker : public Tracker {
 public:
  UffdTracker(Mapping* m, int uffd, int pagemap) : Tracker(m), uffd_(uffd), pagemap_(pagemap) {}
  ~UffdTracker() override { Disarm(); }

  int Arm(const char** syscall) override { return Scan(nullptr, syscall); }
  int Collect(std::vector<uint32_t>* runs, const char** syscall) override { return Scan(runs, syscall); }

  void Disarm() override {
    if (uffd_ < 0) return;
    kabi::UffdioRange range{reinterpret_cast<uintptr_t>(mapping_->base()), mapping_->len()};
    ioctl(uffd_, kabi::kUffdioUnregister, &range);
    close(uffd_);
    close(pagemap_);
    uffd_ = pagemap_ = -1;
  }

 private:
  // Reports (when runs != nullptr) and re-protects every written page of the mapping.
  int Scan(std::vector<uint32_t>* runs, const char** syscall) {
    const uintptr_t base = reinterpret_cast<uintptr_t>(mapping_->base());
    const uintptr_t end = base + mapping_->len();
    const size_t pageSize = SystemPageSize();
    kabi::PageRegion vec[kVecLen];
    uintptr_t start = base;
    while (start < end) {
      kabi::PmScanArg arg{};
      arg.size = sizeof(arg);
      arg.flags = kabi::kPmScanWpMatching | kabi::kPmScanCheckWpAsync;
      arg.start = start;
      arg.end = end;
      arg.vec = reinterpret_cast<uintptr_t>(vec);
      arg.vec_len = kVecLen;
      arg.category_mask = kabi::kPageIsWritten;
      arg.return_mask = kabi::kPageIsWritten;
      long n = ioctl(pagemap_, kabi::kPagemapScan, &arg);
      if (n < 0) {
        if (errno == EINTR) continue;
        *syscall = "ioctl(PAGEMAP_SCAN)";
        return -errno;
      }
      if (runs != nullptr)
        for (long i = 0; i < n; i++) {
          uint32_t first = uint32_t((vec[i].start - base) / pageSize);
          AppendRun(runs, first, uint32_t((vec[i].end - vec[i].start) / pageSize));
        }
      if (arg.walk_end <= start) break;  // no progress: the kernel walked nothing more
      start = arg.walk_end;
    }
    return 0;
  }

  int uffd_, pagemap_;
};

}  // namespace

Tracker* NewUffdTracker(Mapping* m, int* err, const char** syscall) {
  int uffd = OpenAsyncUffd(err, syscall);
  if (uffd < 0) return nullptr;
  kabi::UffdioRegister reg{{reinterpret_cast<uintptr_t>(m->base()), m->len()}, kabi::kUffdRegisterModeWp, 0};
  if (ioctl(uffd, kabi::kUffdioRegister, &reg) != 0) {
    *err = errno;  // EINVAL for file mappings other than shmem/hugetlbfs
    *syscall = "ioctl(UFFDIO_REGISTER)";
    close(uffd);
    return nullptr;
  }
  int pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  if (pagemap < 0) {
    *err = errno;
    *syscall = "open(/proc/self/pagemap)";
    kabi::UffdioRange range = reg.range;
    ioctl(uffd, kabi::kUffdioUnregister, &range);
    close(uffd);
    return nullptr;
  }
  return new UffdTracker(m, uffd, pagemap);
}

}  // namespace salvor
