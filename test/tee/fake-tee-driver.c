/*
 * A stand-in for the TEE driver, preloaded into a test's Node process (LD_PRELOAD): open() of
 * $FAKE_TEE_PATH gives a memfd, and ioctl() on it answers the linux/tee.h requests the way the OP-TEE
 * driver would, logging each request number and the argument bytes it got to $FAKE_TEE_LOG (one line:
 * request in hex, then the bytes in hex). Invoke commands: 3 answers value a=42; 2 writes the bytes of
 * memref 1 reversed into memref 2 and sets value 3 a=5; 0xdead answers TEEC_ERROR_TARGET_DEAD (origin
 * TEE); 0x4a46 blocks until a TEE_IOC_CANCEL with its cancel_id arrives; 0xe10 fails with EIO.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/tee.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static int fake_fd = -1;
static volatile uint32_t cancelled = 0;
static struct { uint64_t addr, len; } shm[64];
static int next_shm = 1;

static void log_arg(unsigned long req, const void *p, size_t n) {
  const char *path = getenv("FAKE_TEE_LOG");
  if (!path) return;
  char line[8192];
  int k = snprintf(line, sizeof line, "%08lx ", req);
  for (size_t i = 0; i < n && k < (int)sizeof line - 3; i++) k += snprintf(line + k, sizeof line - k, "%02x", ((const uint8_t *)p)[i]);
  line[k++] = '\n';
  int fd = ((int (*)(const char *, int, ...))dlsym(RTLD_NEXT, "open"))(path, O_WRONLY | O_APPEND | O_CREAT, 0600);
  if (fd >= 0) {
    if (write(fd, line, k) < 0) { /* nothing to do: the test sees a missing line */ }
    close(fd);
  }
}

static int opened(const char *path, int flags, mode_t mode, const char *sym) {
  const char *fake = getenv("FAKE_TEE_PATH");
  if (fake && strcmp(path, fake) == 0) {
    fake_fd = memfd_create("fake-tee", MFD_CLOEXEC);
    return fake_fd;
  }
  return ((int (*)(const char *, int, ...))dlsym(RTLD_NEXT, sym))(path, flags, mode);
}

int open(const char *path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  mode_t mode = (flags & O_CREAT) ? va_arg(ap, mode_t) : 0;
  va_end(ap);
  return opened(path, flags, mode, "open");
}

int open64(const char *path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  mode_t mode = (flags & O_CREAT) ? va_arg(ap, mode_t) : 0;
  va_end(ap);
  return opened(path, flags, mode, "open64");
}

static uint8_t *memref(struct tee_ioctl_param *p) {
  if (p->c >= 64 || !shm[p->c].addr || p->a + p->b > shm[p->c].len) return NULL;
  return (uint8_t *)(uintptr_t)shm[p->c].addr + p->a;
}

static int invoke(struct tee_ioctl_invoke_arg *arg) {
  struct tee_ioctl_param *p = arg->params;
  arg->ret = 0;
  arg->ret_origin = 4;
  if (arg->func == 3 && arg->num_params >= 1) p[0].a = 42;
  else if (arg->func == 2 && arg->num_params >= 4) {
    uint8_t *in = memref(&p[1]), *out = memref(&p[2]);
    if (!in || !out || p[2].b < p[1].b) { arg->ret = 0xffff0006; return 0; }
    for (uint64_t i = 0; i < p[1].b; i++) out[i] = in[p[1].b - 1 - i];
    p[2].b = p[1].b;
    p[3].a = 5;
  } else if (arg->func == 0xdead) {
    arg->ret = 0xffff3024;
    arg->ret_origin = 3;
  } else if (arg->func == 0x4a46) {
    for (int i = 0; i < 10000 && cancelled != arg->cancel_id; i++) usleep(1000);
    arg->ret = 0xffff0002;
    arg->ret_origin = 2;
  } else if (arg->func == 0xe10) {
    errno = EIO;
    return -1;
  }
  return 0;
}

int ioctl(int fd, unsigned long req, ...) {
  va_list ap;
  va_start(ap, req);
  void *argp = va_arg(ap, void *);
  va_end(ap);
  if (fd != fake_fd || fake_fd < 0) return ((int (*)(int, unsigned long, void *))dlsym(RTLD_NEXT, "ioctl"))(fd, req, argp);
  switch (req) {
    case TEE_IOC_VERSION: {
      log_arg(req, argp, sizeof(struct tee_ioctl_version_data));
      struct tee_ioctl_version_data *v = argp;
      v->impl_id = TEE_IMPL_ID_OPTEE;
      v->impl_caps = TEE_OPTEE_CAP_TZ;
      v->gen_caps = TEE_GEN_CAP_GP | TEE_GEN_CAP_REG_MEM;
      return 0;
    }
    case TEE_IOC_SHM_REGISTER: {
      struct tee_ioctl_shm_register_data *r = argp;
      log_arg(req, argp, sizeof *r);
      if (next_shm >= 64) { errno = ENOMEM; return -1; }
      shm[next_shm].addr = r->addr;
      shm[next_shm].len = r->length;
      r->id = next_shm++;
      return memfd_create("fake-tee-shm", MFD_CLOEXEC);
    }
    case TEE_IOC_OPEN_SESSION: {
      struct tee_ioctl_buf_data *b = argp;
      struct tee_ioctl_open_session_arg *a = (void *)(uintptr_t)b->buf_ptr;
      log_arg(req, a, b->buf_len);
      a->session = 7;
      a->ret = a->uuid[0] == 0 ? 0xffff0008 : 0;
      a->ret_origin = 3;
      return 0;
    }
    case TEE_IOC_INVOKE: {
      struct tee_ioctl_buf_data *b = argp;
      log_arg(req, (void *)(uintptr_t)b->buf_ptr, b->buf_len);
      return invoke((void *)(uintptr_t)b->buf_ptr);
    }
    case TEE_IOC_CANCEL: {
      struct tee_ioctl_cancel_arg *c = argp;
      log_arg(req, argp, sizeof *c);
      cancelled = c->cancel_id;
      return 0;
    }
    case TEE_IOC_CLOSE_SESSION:
      log_arg(req, argp, sizeof(struct tee_ioctl_close_session_arg));
      return 0;
    default:
      errno = ENOTTY;
      return -1;
  }
}
