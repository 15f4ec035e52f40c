#include "mapping.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mutex>

#include "fault_slots.h"

namespace salvor {

size_t SystemPageSize() {
  static const size_t size = size_t(sysconf(_SC_PAGESIZE));
  return size;
}

Mapping* Mapping::Anonymous(size_t len, int* err, const char** syscall) {
  void* p = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) {
    *err = errno;
    *syscall = "mmap";
    return nullptr;
  }
  madvise(p, len, MADV_NOHUGEPAGE);  // page-granular tracking; a huge page would dirty 2 MiB at once
  return new Mapping(static_cast<uint8_t*>(p), len, -1);
}

Mapping* Mapping::SharedFile(const std::string& path, size_t* len, int* err, const char** syscall) {
  int fd = open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    *err = errno;
    *syscall = "open";
    return nullptr;
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    *err = errno;
    *syscall = "fstat";
    close(fd);
    return nullptr;
  }
  if (!S_ISREG(st.st_mode)) {
    *err = EINVAL;
    *syscall = "fstat";
    close(fd);
    return nullptr;
  }
  *len = size_t(st.st_size);
  if (*len == 0 || *len % SystemPageSize() != 0) {  // the caller reports the size rule from *len
    *err = EINVAL;
    *syscall = "fstat";
    close(fd);
    return nullptr;
  }
  void* p = mmap(nullptr, *len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) {
    *err = errno;
    *syscall = "mmap";
    close(fd);
    return nullptr;
  }
  madvise(p, *len, MADV_NOHUGEPAGE);
  return new Mapping(static_cast<uint8_t*>(p), *len, fd);
}

long long Mapping::FileSize() const {
  if (fd_ < 0) return (long long)len_;
  struct stat st;
  if (fstat(fd_, &st) != 0) return -errno;
  return (long long)st.st_size;
}

void Mapping::Retire() {
  if (base_ == nullptr) return;
  mmap(base_, len_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);
  if (fd_ >= 0) {
    close(fd_);
    fd_ = -1;
  }
}

void Mapping::Unref() {
  if (refs_.fetch_sub(1) == 1) delete this;
}

Mapping::~Mapping() {
  if (base_ != nullptr) {
    ForgetFaultRange(base_);
    munmap(base_, len_);
  }
  if (fd_ >= 0) close(fd_);
}

// ---- fault handling ----

namespace {

struct Guard {
  sigjmp_buf env;
};
// initial-exec: reading it in the signal handler must not allocate (this library is dlopen()ed).
__attribute__((tls_model("initial-exec"))) thread_local Guard* t_guard = nullptr;

struct sigaction g_previous[2];  // SIGSEGV, SIGBUS
std::atomic<WriteFaultHook> g_hook{nullptr};

void Chain(int sig, siginfo_t* info, void* context) {
  const struct sigaction& prev = g_previous[sig == SIGBUS ? 1 : 0];
  if (prev.sa_flags & SA_SIGINFO) {
    prev.sa_sigaction(sig, info, context);
  } else if (prev.sa_handler == SIG_IGN) {
    return;
  } else if (prev.sa_handler == SIG_DFL) {
    signal(sig, SIG_DFL);  // the faulting instruction runs again and the default action follows
  } else {
    prev.sa_handler(sig);
  }
}

void OnFault(int sig, siginfo_t* info, void* context) {
  WriteFaultHook hook = g_hook.load();
  if (sig == SIGSEGV && info->si_code == SEGV_ACCERR && hook != nullptr && hook(info->si_addr)) return;
  if (t_guard != nullptr) siglongjmp(t_guard->env, sig);
  Chain(sig, info, context);
}

}  // namespace

void InstallFaultHandler(WriteFaultHook hook) {
  static std::once_flag once;
  if (hook != nullptr) g_hook.store(hook);
  std::call_once(once, [] {
    struct sigaction sa {};
    sa.sa_sigaction = OnFault;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &g_previous[0]);
    sigaction(SIGBUS, &sa, &g_previous[1]);
  });
}

bool RunGuarded(void (*fn)(void*), void* arg) {
  InstallFaultHandler(nullptr);
  Guard guard;
  Guard* outer = t_guard;
  if (sigsetjmp(guard.env, 1) != 0) {
    t_guard = outer;
    return false;
  }
  t_guard = &guard;
  fn(arg);
  t_guard = outer;
  return true;
}

}  // namespace salvor
