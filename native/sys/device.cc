// Device facts Node's fs cannot give: the size of a block device (fstat reports 0 for it) and
// advisory whole-device locks. Locking never blocks here; waiting and retrying is policy, in TS.
#include <errno.h>
#include <linux/fs.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include "../errors.h"
#include "../modules.h"

namespace salvor {
namespace {

const char* KindOf(mode_t mode) {
  if (S_ISREG(mode)) return "file";
  if (S_ISBLK(mode)) return "block";
  if (S_ISCHR(mode)) return "char";
  if (S_ISDIR(mode)) return "directory";
  return "other";
}

// deviceInfo(fd) -> { kind, size, logicalBlockSize }
Napi::Value DeviceInfo(const Napi::CallbackInfo& info) {
  int32_t fd;
  if (!ArgInt32(info, 0, &fd)) return info.Env().Undefined();
  struct stat st;
  if (fstat(fd, &st) != 0) {
    ErrnoError(info.Env(), errno, "fstat").ThrowAsJavaScriptException();
    return info.Env().Undefined();
  }
  double size = double(st.st_size);
  int blockSize = 1;
  if (S_ISBLK(st.st_mode)) {
    uint64_t bytes = 0;
    if (ioctl(fd, BLKGETSIZE64, &bytes) != 0) {
      ErrnoError(info.Env(), errno, "ioctl(BLKGETSIZE64)").ThrowAsJavaScriptException();
      return info.Env().Undefined();
    }
    size = double(bytes);
    if (ioctl(fd, BLKSSZGET, &blockSize) != 0) blockSize = 512;
  }
  Napi::Object out = Napi::Object::New(info.Env());
  out.Set("kind", KindOf(st.st_mode));
  out.Set("size", size);
  out.Set("logicalBlockSize", blockSize);
  return out;
}

// lockDevice(fd, exclusive) -> true when taken, false when another holder has it (EWOULDBLOCK).
Napi::Value LockDevice(const Napi::CallbackInfo& info) {
  int32_t fd;
  if (!ArgInt32(info, 0, &fd)) return info.Env().Undefined();
  bool exclusive = info.Length() > 1 && info[1].ToBoolean().Value();
  int rc;
  do rc = flock(fd, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB);
  while (rc != 0 && errno == EINTR);
  if (rc == 0) return Napi::Boolean::New(info.Env(), true);
  if (errno == EWOULDBLOCK) return Napi::Boolean::New(info.Env(), false);
  ErrnoError(info.Env(), errno, "flock").ThrowAsJavaScriptException();
  return info.Env().Undefined();
}

Napi::Value UnlockDevice(const Napi::CallbackInfo& info) {
  int32_t fd;
  if (!ArgInt32(info, 0, &fd)) return info.Env().Undefined();
  if (flock(fd, LOCK_UN) != 0) ErrnoError(info.Env(), errno, "flock").ThrowAsJavaScriptException();
  return info.Env().Undefined();
}

}  // namespace

void InitDevice(Napi::Env env, Napi::Object exports) {
  exports.Set("deviceInfo", Napi::Function::New(env, DeviceInfo, "deviceInfo"));
  exports.Set("lockDevice", Napi::Function::New(env, LockDevice, "lockDevice"));
  exports.Set("unlockDevice", Napi::Function::New(env, UnlockDevice, "unlockDevice"));
}

}  // namespace salvor
