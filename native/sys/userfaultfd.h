// Opening a userfaultfd, the one way salvor does it everywhere: the doctor probe, the uffd-wp tracker
// and its write-fault calibration all call this, so what doctor reports is what the tracker gets.
#pragma once

namespace salvor {

struct UserfaultfdOpen {
  int fd = -1;           // the descriptor (caller closes), or -1
  int syscallErr = 0;    // errno of userfaultfd(2); 0 when it succeeded
  bool deviceTried = false;
  int deviceErr = 0;     // errno of the /dev/userfaultfd fallback; 0 when it succeeded or was not tried
  const char* deviceSyscall = nullptr;  // the fallback step that ran last: "open" or "ioctl(USERFAULTFD_IOC_NEW)"

  // The step that said no last (the fallback when it ran), for a single -errno plus syscall name.
  int err() const { return deviceTried ? deviceErr : syscallErr; }
  const char* failedSyscall() const { return deviceTried ? deviceSyscall : "userfaultfd"; }
};

// userfaultfd(2) with UFFD_USER_MODE_ONLY | O_CLOEXEC | O_NONBLOCK first; /dev/userfaultfd (Linux 6.1)
// when the system call is refused (a seccomp filter, a security module, a kernel without it).
UserfaultfdOpen OpenUserfaultfd();

}  // namespace salvor
