#include "errors.h"

#include <cstring>

namespace salvor {

Napi::Error ErrnoError(Napi::Env env, int err, const char* syscall, const std::string& path) {
  std::string msg = std::string(syscall) + ": " + strerror(err);
  if (!path.empty()) msg += " (" + path + ")";
  Napi::Error e = Napi::Error::New(env, msg);
  e.Set("errno", Napi::Number::New(env, -err));
  e.Set("syscall", Napi::String::New(env, syscall));
  if (!path.empty()) e.Set("path", Napi::String::New(env, path));
  return e;
}

Napi::Error CodeError(Napi::Env env, const char* code, const std::string& message) {
  Napi::Error e = Napi::Error::New(env, message);
  e.Set("code", Napi::String::New(env, code));
  return e;
}

static bool Fail(const Napi::CallbackInfo& info, size_t i, const char* what) {
  CodeError(info.Env(), "SALVOR_EINVAL", "argument " + std::to_string(i) + " must be " + what)
      .ThrowAsJavaScriptException();
  return false;
}

bool ArgBuffer(const Napi::CallbackInfo& info, size_t i, uint8_t** data, size_t* len) {
  if (info.Length() <= i || !info[i].IsTypedArray()) return Fail(info, i, "a Buffer or Uint8Array");
  Napi::TypedArray ta = info[i].As<Napi::TypedArray>();
  if (ta.TypedArrayType() != napi_uint8_array) return Fail(info, i, "a Buffer or Uint8Array");
  Napi::Uint8Array u8 = ta.As<Napi::Uint8Array>();
  bool detached = false;
  if (napi_is_detached_arraybuffer(info.Env(), u8.ArrayBuffer(), &detached) == napi_ok && detached) {
    CodeError(info.Env(), "SALVOR_DETACHED", "argument " + std::to_string(i) + " is a view of a detached ArrayBuffer")
        .ThrowAsJavaScriptException();
    return false;
  }
  *data = u8.Data();
  *len = u8.ByteLength();
  return true;
}

bool ArgUint32(const Napi::CallbackInfo& info, size_t i, uint32_t* out) {
  if (info.Length() <= i || !info[i].IsNumber()) return Fail(info, i, "an unsigned 32-bit integer");
  double d = info[i].As<Napi::Number>().DoubleValue();
  if (d < 0 || d > 4294967295.0 || d != static_cast<double>(static_cast<uint64_t>(d)))
    return Fail(info, i, "an unsigned 32-bit integer");
  *out = static_cast<uint32_t>(d);
  return true;
}

bool ArgInt32(const Napi::CallbackInfo& info, size_t i, int32_t* out) {
  if (info.Length() <= i || !info[i].IsNumber()) return Fail(info, i, "a 32-bit integer");
  double d = info[i].As<Napi::Number>().DoubleValue();
  if (d < -2147483648.0 || d > 2147483647.0 || d != static_cast<double>(static_cast<int64_t>(d))) return Fail(info, i, "a 32-bit integer");
  *out = static_cast<int32_t>(d);
  return true;
}

}  // namespace salvor
