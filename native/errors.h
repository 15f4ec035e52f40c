// Errors leave native code as a JS Error carrying a negative errno and the syscall name;
// bindings/ turns them into SalvorError. Never a message-only error.
#pragma once
#include <napi.h>
#include <string>

namespace salvor {

// Builds the error object (usable from AsyncWorker::OnError paths too).
Napi::Error ErrnoError(Napi::Env env, int err, const char* syscall, const std::string& path = "");
// A failure that is not an errno (bad argument shape, failed self-test): code is a SALVOR_* name.
Napi::Error CodeError(Napi::Env env, const char* code, const std::string& message);

// Argument helpers: return false after throwing a SALVOR_EINVAL-coded error (SALVOR_DETACHED for a
// view of a detached ArrayBuffer).
bool ArgBuffer(const Napi::CallbackInfo& info, size_t i, uint8_t** data, size_t* len);
bool ArgUint32(const Napi::CallbackInfo& info, size_t i, uint32_t* out);
bool ArgInt32(const Napi::CallbackInfo& info, size_t i, int32_t* out);

}  // namespace salvor
