#include "boundary.h"

#include <string>

#include "errors.h"
#include "modules.h"

namespace salvor {
namespace {

struct Boundary {
  Napi::FunctionReference pin;
  size_t maxBufferLength = size_t(1) << 32;
};

Boundary* Of(Napi::Env env) { return env.GetInstanceData<Boundary>(); }

// configureBoundary(markAsUntransferable, maxBufferLength)
Napi::Value ConfigureBoundary(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsFunction() || !info[1].IsNumber() || info[1].As<Napi::Number>().DoubleValue() < 1) {
    CodeError(env, "SALVOR_EINVAL", "configureBoundary takes (markAsUntransferable, maxBufferLength)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Boundary* b = Of(env);
  b->pin.Reset(info[0].As<Napi::Function>(), 1);
  b->maxBufferLength = size_t(info[1].As<Napi::Number>().DoubleValue());
  return env.Undefined();
}

}  // namespace

bool PinForWorker(Napi::Env env, Napi::Value view, size_t argIndex) {
  Boundary* b = Of(env);
  if (b == nullptr || b->pin.IsEmpty()) {
    CodeError(env, "SALVOR_EINVAL", "the addon was loaded without bindings/addon.ts, so an async call cannot pin its buffers")
        .ThrowAsJavaScriptException();
    return false;
  }
  Napi::ArrayBuffer ab = view.As<Napi::TypedArray>().ArrayBuffer();
  bool detached = false;
  if (napi_is_detached_arraybuffer(env, ab, &detached) != napi_ok || detached) {
    CodeError(env, "SALVOR_DETACHED", "argument " + std::to_string(argIndex) + " is a view of a detached ArrayBuffer")
        .ThrowAsJavaScriptException();
    return false;
  }
  b->pin.Call({ab});
  return !env.IsExceptionPending();
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
