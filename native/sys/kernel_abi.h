// Kernel ABI pieces the probes and trackers need that older uapi headers lack (userfaultfd WP_ASYNC, Linux 6.7;
// PAGEMAP_SCAN, Linux 6.7). Own names and static_asserted layouts, so newer headers cannot clash.
#pragma once
#include <sys/ioctl.h>

#include <cstdint>

namespace salvor {
namespace kabi {

// userfaultfd (include/uapi/linux/userfaultfd.h)
constexpr uint64_t kUffdApi = 0xAA;
constexpr int kUffdUserModeOnly = 1;
constexpr uint64_t kUffdFeatureWpUnpopulated = 1ull << 13;
constexpr uint64_t kUffdFeatureWpAsync = 1ull << 15;
constexpr uint64_t kUffdRegisterModeWp = 1ull << 1;

struct UffdioApi {
  uint64_t api;
  uint64_t features;
  uint64_t ioctls;
};
struct UffdioRange {
  uint64_t start;
  uint64_t len;
};
struct UffdioRegister {
  UffdioRange range;
  uint64_t mode;
  uint64_t ioctls;
};
static_assert(sizeof(UffdioApi) == 24, "uffdio_api layout");
static_assert(sizeof(UffdioRegister) == 32, "uffdio_register layout");

constexpr unsigned long kUffdioApi = _IOWR(0xAA, 0x3F, UffdioApi);
constexpr unsigned long kUffdioRegister = _IOWR(0xAA, 0x00, UffdioRegister);
constexpr unsigned long kUffdioUnregister = _IOR(0xAA, 0x01, UffdioRange);
constexpr unsigned long kUserfaultfdIocNew = _IO(0xAA, 0x00);  // on /dev/userfaultfd

// PAGEMAP_SCAN (include/uapi/linux/fs.h)
constexpr uint64_t kPageIsWpAllowed = 1u << 0;
constexpr uint64_t kPageIsWritten = 1u << 1;
constexpr uint64_t kPageIsPresent = 1u << 3;
constexpr uint64_t kPmScanWpMatching = 1u << 0;
constexpr uint64_t kPmScanCheckWpAsync = 1u << 1;

struct PageRegion {
  uint64_t start;
  uint64_t end;
  uint64_t categories;
};
struct PmScanArg {
  uint64_t size;
  uint64_t flags;
  uint64_t start;
  uint64_t end;
  uint64_t walk_end;
  uint64_t vec;
  uint64_t vec_len;
  uint64_t max_pages;
  uint64_t category_inverted;
  uint64_t category_mask;
  uint64_t category_anyof_mask;
  uint64_t return_mask;
};
static_assert(sizeof(PageRegion) == 24, "page_region layout");
static_assert(sizeof(PmScanArg) == 96, "pm_scan_arg layout");

constexpr unsigned long kPagemapScan = _IOWR('f', 16, PmScanArg);

// /proc/PID/pagemap entry bits (Documentation/admin-guide/mm/pagemap.rst)
constexpr uint64_t kPagemapSoftDirty = 1ull << 55;
constexpr uint64_t kPagemapPresent = 1ull << 63;

// /proc/PID/clear_refs value that clears the soft-dirty bits
constexpr char kClearRefsSoftDirty[] = "4";

}  // namespace kabi
}  // namespace salvor
