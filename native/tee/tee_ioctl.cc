// The TEE driver's ioctls (linux/tee.h), each on a worker thread: a call into a panicked OP-TEE core
// may never return, and the JS thread must not wait on it. TS (bindings/tee.ts) lays out the argument
// structs in Buffers with the sizes and offsets exported below; this file only sets the pointers the
// kernel needs and makes the call. Deadlines and TEE_IOC_CANCEL are policy, in TS.
#include <errno.h>
#include <fcntl.h>
#include <linux/tee.h>
#include <stddef.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <string>

#include "../errors.h"
#include "../modules.h"

namespace salvor {
namespace {

// The ABI salvor was written against: a header that differs fails the build, not a device at runtime.
static_assert(sizeof(struct tee_ioctl_version_data) == 12, "tee_ioctl_version_data");
static_assert(sizeof(struct tee_ioctl_shm_alloc_data) == 16, "tee_ioctl_shm_alloc_data");
static_assert(sizeof(struct tee_ioctl_buf_data) == 16, "tee_ioctl_buf_data");
static_assert(sizeof(struct tee_ioctl_param) == 32, "tee_ioctl_param");
static_assert(sizeof(struct tee_ioctl_open_session_arg) == 56, "tee_ioctl_open_session_arg");
static_assert(offsetof(struct tee_ioctl_open_session_arg, clnt_login) == 32, "open_session clnt_login");
static_assert(offsetof(struct tee_ioctl_open_session_arg, session) == 40, "open_session session");
static_assert(offsetof(struct tee_ioctl_open_session_arg, params) == 56, "open_session params");
static_assert(sizeof(struct tee_ioctl_invoke_arg) == 24, "tee_ioctl_invoke_arg");
static_assert(offsetof(struct tee_ioctl_invoke_arg, ret_origin) == 16, "invoke ret_origin");
static_assert(sizeof(struct tee_ioctl_cancel_arg) == 8, "tee_ioctl_cancel_arg");
static_assert(sizeof(struct tee_ioctl_close_session_arg) == 4, "tee_ioctl_close_session_arg");
static_assert(sizeof(struct tee_ioctl_shm_register_data) == 24, "tee_ioctl_shm_register_data");
static_assert(TEE_IOC_VERSION == 0x800ca400u, "TEE_IOC_VERSION");
static_assert(TEE_IOC_SHM_ALLOC == 0xc010a401u, "TEE_IOC_SHM_ALLOC");
static_assert(TEE_IOC_OPEN_SESSION == 0x8010a402u, "TEE_IOC_OPEN_SESSION");
static_assert(TEE_IOC_INVOKE == 0x8010a403u, "TEE_IOC_INVOKE");
static_assert(TEE_IOC_CANCEL == 0x8008a404u, "TEE_IOC_CANCEL");
static_assert(TEE_IOC_CLOSE_SESSION == 0x8004a405u, "TEE_IOC_CLOSE_SESSION");
static_assert(TEE_IOC_SHM_REGISTER == 0xc018a409u, "TEE_IOC_SHM_REGISTER");

struct Op {
  const char* name;
  const char* syscall;
  unsigned long request;
  size_t size;     // exact size of a fixed argument; 0: variable (a struct with params, passed via buf_data)
  size_t minSize;  // variable arguments: the fixed head
};

const Op kOps[] = {
    {"version", "ioctl(TEE_IOC_VERSION)", TEE_IOC_VERSION, sizeof(tee_ioctl_version_data), 0},
    {"shm-alloc", "ioctl(TEE_IOC_SHM_ALLOC)", TEE_IOC_SHM_ALLOC, sizeof(tee_ioctl_shm_alloc_data), 0},
    {"shm-register", "ioctl(TEE_IOC_SHM_REGISTER)", TEE_IOC_SHM_REGISTER, sizeof(tee_ioctl_shm_register_data), 0},
    {"open-session", "ioctl(TEE_IOC_OPEN_SESSION)", TEE_IOC_OPEN_SESSION, 0, sizeof(tee_ioctl_open_session_arg)},
    {"invoke", "ioctl(TEE_IOC_INVOKE)", TEE_IOC_INVOKE, 0, sizeof(tee_ioctl_invoke_arg)},
    {"cancel", "ioctl(TEE_IOC_CANCEL)", TEE_IOC_CANCEL, sizeof(tee_ioctl_cancel_arg), 0},
    {"close-session", "ioctl(TEE_IOC_CLOSE_SESSION)", TEE_IOC_CLOSE_SESSION, sizeof(tee_ioctl_close_session_arg), 0},
};

// Baton: the argument (and, for SHM_REGISTER, the memory registered) stay referenced until the call ends.
class TeeIoctlWorker : public Napi::AsyncWorker {
 public:
  TeeIoctlWorker(Napi::Env env, int fd, const Op* op, Napi::Object arg, uint8_t* argData, size_t argLen, Napi::Value mem,
                 uint8_t* memData, size_t memLen)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), fd_(fd), op_(op), argData_(argData),
        argLen_(argLen), memData_(memData), memLen_(memLen) {
    arg_.Reset(arg, 1);
    if (mem.IsObject()) mem_.Reset(mem.As<Napi::Object>(), 1);
  }
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Execute() override {
    if (op_->request == TEE_IOC_SHM_REGISTER) {
      tee_ioctl_shm_register_data* r = reinterpret_cast<tee_ioctl_shm_register_data*>(argData_);
      r->addr = reinterpret_cast<uintptr_t>(memData_);
      r->length = memLen_;
    }
    if (op_->size == 0) {
      tee_ioctl_buf_data buf = {reinterpret_cast<uintptr_t>(argData_), argLen_};
      rc_ = ioctl(fd_, op_->request, &buf);
    } else {
      rc_ = ioctl(fd_, op_->request, argData_);
    }
    err_ = rc_ < 0 ? errno : 0;
  }
  void OnOK() override {
    arg_.Reset();
    mem_.Reset();
    if (err_) deferred_.Reject(ErrnoError(Env(), err_, op_->syscall).Value());
    else deferred_.Resolve(Napi::Number::New(Env(), rc_));
  }

 private:
  Napi::Promise::Deferred deferred_;
  Napi::ObjectReference arg_, mem_;
  int fd_;
  const Op* op_;
  uint8_t* argData_;
  size_t argLen_;
  uint8_t* memData_;
  size_t memLen_;
  int rc_ = 0, err_ = 0;
};

// teeIoctl(fd, op, arg: Buffer, mem?: Buffer): Promise<number> (the ioctl's return: an fd for shm-alloc/register).
Napi::Value TeeIoctl(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int32_t fd;
  if (!ArgInt32(info, 0, &fd)) return env.Undefined();
  if (info.Length() < 2 || !info[1].IsString()) {
    CodeError(env, "SALVOR_EINVAL", "teeIoctl: op must be a string").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string name = info[1].As<Napi::String>().Utf8Value();
  const Op* op = nullptr;
  for (const Op& o : kOps)
    if (name == o.name) op = &o;
  uint8_t* arg;
  size_t argLen;
  if (!op || !ArgBuffer(info, 2, &arg, &argLen)) {
    if (!op) CodeError(env, "SALVOR_EINVAL", "teeIoctl: unknown op " + name).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  bool sizeOk = op->size ? argLen == op->size : argLen >= op->minSize && (argLen - op->minSize) % sizeof(tee_ioctl_param) == 0;
  if (!sizeOk) {
    CodeError(env, "SALVOR_EINVAL", "teeIoctl: argument of " + std::to_string(argLen) + " bytes does not fit " + name).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  uint8_t* mem = nullptr;
  size_t memLen = 0;
  if (op->request == TEE_IOC_SHM_REGISTER && !ArgBuffer(info, 3, &mem, &memLen)) return env.Undefined();
  auto* w = new TeeIoctlWorker(env, fd, op, info[2].As<Napi::Object>(), arg, argLen, info.Length() > 3 ? info[3] : env.Undefined(), mem, memLen);
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

class TeeOpenWorker : public Napi::AsyncWorker {
 public:
  TeeOpenWorker(Napi::Env env, std::string path) : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), path_(std::move(path)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Execute() override {
    fd_ = open(path_.c_str(), O_RDWR | O_CLOEXEC);
    err_ = fd_ < 0 ? errno : 0;
  }
  void OnOK() override {
    if (err_) deferred_.Reject(ErrnoError(Env(), err_, "open", path_).Value());
    else deferred_.Resolve(Napi::Number::New(Env(), fd_));
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::string path_;
  int fd_ = -1, err_ = 0;
};

Napi::Value TeeOpen(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsString()) {
    CodeError(info.Env(), "SALVOR_EINVAL", "teeOpen(path) takes a string").ThrowAsJavaScriptException();
    return info.Env().Undefined();
  }
  auto* w = new TeeOpenWorker(info.Env(), info[0].As<Napi::String>().Utf8Value());
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

Napi::Value TeeClose(const Napi::CallbackInfo& info) {
  int32_t fd;
  if (!ArgInt32(info, 0, &fd)) return info.Env().Undefined();
  if (close(fd) < 0) ErrnoError(info.Env(), errno, "close").ThrowAsJavaScriptException();
  return info.Env().Undefined();
}

}  // namespace

void InitTee(Napi::Env env, Napi::Object exports) {
  exports.Set("teeOpen", Napi::Function::New(env, TeeOpen, "teeOpen"));
  exports.Set("teeIoctl", Napi::Function::New(env, TeeIoctl, "teeIoctl"));
  exports.Set("teeClose", Napi::Function::New(env, TeeClose, "teeClose"));
  Napi::Object abi = Napi::Object::New(env);
  abi.Set("paramSize", uint32_t(sizeof(tee_ioctl_param)));
  abi.Set("openSessionArgSize", uint32_t(sizeof(tee_ioctl_open_session_arg)));
  abi.Set("invokeArgSize", uint32_t(sizeof(tee_ioctl_invoke_arg)));
  abi.Set("shmRegisterSize", uint32_t(sizeof(tee_ioctl_shm_register_data)));
  Napi::Object requests = Napi::Object::New(env);
  for (const Op& o : kOps) requests.Set(o.name, double(o.request));
  abi.Set("requests", requests);
  exports.Set("teeAbi", abi);
}

}  // namespace salvor
