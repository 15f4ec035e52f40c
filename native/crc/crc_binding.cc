// JS entry points: crc32c(buf, seed) and crc32(buf, seed), synchronous (CRC of an in-memory buffer
// runs at memory speed; bulk checks of whole regions go through verify.cc's async call).
#include "../errors.h"
#include "../modules.h"
#include "crc.h"

namespace salvor {
namespace {

template <uint32_t (*Fn)(uint32_t, const uint8_t*, size_t)>
Napi::Value CrcCall(const Napi::CallbackInfo& info) {
  uint8_t* data;
  size_t len;
  uint32_t seed = 0;
  if (!ArgBuffer(info, 0, &data, &len)) return info.Env().Undefined();
  if (info.Length() > 1 && !info[1].IsUndefined() && !ArgUint32(info, 1, &seed)) return info.Env().Undefined();
  return Napi::Number::New(info.Env(), Fn(seed, data, len));
}

}  // namespace

void InitCrc(Napi::Env env, Napi::Object exports) {
  exports.Set("crc32c", Napi::Function::New(env, CrcCall<Crc32c>, "crc32c"));
  exports.Set("crc32", Napi::Function::New(env, CrcCall<Crc32>, "crc32"));
  exports.Set("crc32cBackend", Napi::String::New(env, Crc32cBackend()));
}

}  // namespace salvor
