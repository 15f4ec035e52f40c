// Probes of devices and driver libraries: the loop-device control node (live disk snapshots,
// in-place restore) and the CUDA driver library (GPU checkpoints).
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <sys/ioctl.h>

#include "probe.h"

namespace salvor {
namespace {

// probeLoopControl() -> { open, getFree?, freeIndex }. LOOP_CTL_GET_FREE may create /dev/loopN,
// exactly as `losetup -f` does; nothing is attached to it.
Napi::Value ProbeLoopControl(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char path[] = "/dev/loop-control";
  Napi::Object out = Napi::Object::New(env);
  ProbeStep openStep, getFree;
  int freeIndex = -1;
  ScopedFd fd(open(path, O_RDWR | O_CLOEXEC));
  if (fd.get() < 0) {
    Failed(&openStep, "open", path);
  } else {
    Succeeded(&openStep, "open", path);
    freeIndex = ioctl(fd.get(), LOOP_CTL_GET_FREE);
    if (freeIndex < 0)
      Failed(&getFree, "ioctl(LOOP_CTL_GET_FREE)", path);
    else
      Succeeded(&getFree, "ioctl(LOOP_CTL_GET_FREE)", path);
    out.Set("getFree", StepObject(env, getFree));
  }
  out.Set("open", StepObject(env, openStep));
  out.Set("freeIndex", Napi::Number::New(env, freeIndex));
  return out;
}

// probeLibcuda() -> { loaded, error, cuInit }. Only looks the entry point up: calling cuInit would
// start the driver in this process, which doctor must not do.
Napi::Value ProbeLibcuda(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char library[] = "libcuda.so.1";
  Napi::Object out = Napi::Object::New(env);
  dlerror();
  void* handle = dlopen(library, RTLD_NOW | RTLD_LOCAL);
  const char* loadError = handle ? nullptr : dlerror();
  out.Set("library", library);
  out.Set("loaded", handle != nullptr);
  out.Set("error", loadError ? Napi::Value(Napi::String::New(env, loadError)) : env.Null());
  out.Set("cuInit", handle != nullptr && dlsym(handle, "cuInit") != nullptr);
  if (handle) dlclose(handle);
  return out;
}

}  // namespace

void InitProbeDevices(Napi::Env env, Napi::Object exports) {
  exports.Set("probeLoopControl", Napi::Function::New(env, ProbeLoopControl, "probeLoopControl"));
  exports.Set("probeLibcuda", Napi::Function::New(env, ProbeLibcuda, "probeLibcuda"));
}

}  // namespace salvor
