#include "boundary.h"

#include <string>

#include "errors.h"
#include "modules.h"

namespace salvor {
namespace {

struct Boundary {
  size_t maxBufferLength = size_t(1) << 32;
};

Boundary* Of(Napi::Env env) { return env.GetInstanceData<Boundary>(); }

// configureBoundary(maxBufferLength)
Napi::Value ConfigureBoundary(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  double max = info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : 0;
  if (!(max >= 1 && max <= 9007199254740991.0)) {
    CodeError(env, "SALVOR_EINVAL", "configureBoundary takes (maxBufferLength), a positive whole number").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Of(env)->maxBufferLength = size_t(max);
  return env.Undefined();
}

}  // namespace

bool CheckAttached(Napi::Env env, Napi::Value view, size_t argIndex) {
  Napi::ArrayBuffer ab = view.As<Napi::TypedArray>().ArrayBuffer();
  bool detached = false;
  if (napi_is_detached_arraybuffer(env, ab, &detached) != napi_ok || detached) {
    CodeError(env, "SALVOR_DETACHED", "argument " + std::to_string(argIndex) + " is a view of a detached ArrayBuffer")
        .ThrowAsJavaScriptException();
    return false;
  }
  return true;
}

size_t MaxBufferLength(Napi::Env env) {
  Boundary* b = Of(env);
  return b == nullptr ? size_t(1) << 32 : b->maxBufferLength;
}

void InitBoundary(Napi::Env env, Napi::Object exports) {
  env.SetInstanceData(new Boundary());
  exports.Set("configureBoundary", Napi::Function::New(env, ConfigureBoundary, "configureBoundary"));
}

}  // namespace salvor
