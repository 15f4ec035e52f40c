#include "userfaultfd.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "kernel_abi.h"

namespace salvor {

UserfaultfdOpen OpenUserfaultfd() {
  const int flags = kabi::kUffdUserModeOnly | O_CLOEXEC | O_NONBLOCK;
  UserfaultfdOpen out;
#ifdef __NR_userfaultfd
  out.fd = int(syscall(__NR_userfaultfd, flags));
  if (out.fd >= 0) return out;
  out.syscallErr = errno;
#else
  out.syscallErr = ENOSYS;
#endif
  out.deviceTried = true;
  out.deviceSyscall = "open";
  int dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
  if (dev < 0) {
    out.deviceErr = errno;
    return out;
  }
  out.deviceSyscall = "ioctl(USERFAULTFD_IOC_NEW)";
  out.fd = ioctl(dev, kabi::kUserfaultfdIocNew, flags);
  if (out.fd < 0) out.deviceErr = errno;
  close(dev);
  return out;
}

}  // namespace salvor
