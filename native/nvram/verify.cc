// Whole-region sector checks in one call. Sector layout (docs/formats/nvram.md): the last 8 bytes
// of each sector are its logical index (u32 LE) and a CRC-32C (u32 LE) over every byte before the CRC.
#include <cstring>
#include <vector>

#include "../crc/crc.h"
#include "../boundary.h"
#include "../errors.h"
#include "../modules.h"

namespace salvor {
namespace {

constexpr uint32_t kTrailer = 8;

inline uint32_t LoadLe32(const uint8_t* p) {
  return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
}
inline void StoreLe32(uint8_t* p, uint32_t v) {
  p[0] = uint8_t(v);
  p[1] = uint8_t(v >> 8);
  p[2] = uint8_t(v >> 16);
  p[3] = uint8_t(v >> 24);
}

std::vector<uint32_t> FindBadSectors(const uint8_t* data, size_t len, uint32_t sectorSize, uint32_t firstIndex) {
  std::vector<uint32_t> bad;
  size_t count = len / sectorSize;
  for (size_t i = 0; i < count; i++) {
    const uint8_t* s = data + i * sectorSize;
    uint32_t stored = LoadLe32(s + sectorSize - 4);
    uint32_t index = LoadLe32(s + sectorSize - kTrailer);
    if (index != firstIndex + i || Crc32c(0, s, sectorSize - 4) != stored) bad.push_back(uint32_t(i));
  }
  return bad;
}

// Shared argument check: (buffer, sectorSize, firstIndex) with the buffer a whole number of sectors.
bool ParseRegion(const Napi::CallbackInfo& info, uint8_t** data, size_t* len, uint32_t* sectorSize, uint32_t* first) {
  if (!ArgBuffer(info, 0, data, len) || !ArgUint32(info, 1, sectorSize) || !ArgUint32(info, 2, first)) return false;
  if (*sectorSize <= kTrailer || *len % *sectorSize != 0) {
    CodeError(info.Env(), "SALVOR_EINVAL", "region length must be a multiple of a sector size above 8 bytes")
        .ThrowAsJavaScriptException();
    return false;
  }
  return true;
}

Napi::Array ToArray(Napi::Env env, const std::vector<uint32_t>& v) {
  Napi::Array out = Napi::Array::New(env, v.size());
  if (out.IsEmpty()) return out;  // JS cannot run any more: a worker's environment is being torn down
  for (size_t i = 0; i < v.size(); i++) out.Set(uint32_t(i), Napi::Number::New(env, v[i]));
  return out;
}

Napi::Value VerifySectors(const Napi::CallbackInfo& info) {
  uint8_t* data;
  size_t len;
  uint32_t sectorSize, first;
  if (!ParseRegion(info, &data, &len, &sectorSize, &first)) return info.Env().Undefined();
  return ToArray(info.Env(), FindBadSectors(data, len, sectorSize, first));
}

// Baton: the region is scanned on a worker thread; the buffer stays referenced (and pinned by
// bindings/addon.ts, so a transfer cannot detach it) until OnOK/OnError.
class VerifyWorker : public Napi::AsyncWorker {
 public:
  VerifyWorker(Napi::Env env, Napi::Object buffer, const uint8_t* data, size_t len, uint32_t sectorSize, uint32_t first)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), data_(data), len_(len),
        sectorSize_(sectorSize), first_(first) {
    buffer_.Reset(buffer, 1);
  }
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Execute() override { bad_ = FindBadSectors(data_, len_, sectorSize_, first_); }
  void OnOK() override {
    buffer_.Reset();
    deferred_.Resolve(ToArray(Env(), bad_));
  }
  void OnError(const Napi::Error& e) override {
    buffer_.Reset();
    deferred_.Reject(e.Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  Napi::ObjectReference buffer_;
  const uint8_t* data_;
  size_t len_;
  uint32_t sectorSize_, first_;
  std::vector<uint32_t> bad_;
};

Napi::Value VerifySectorsAsync(const Napi::CallbackInfo& info) {
  uint8_t* data;
  size_t len;
  uint32_t sectorSize, first;
  if (!ParseRegion(info, &data, &len, &sectorSize, &first) || !CheckAttached(info.Env(), info[0], 0)) return info.Env().Undefined();
  auto* worker = new VerifyWorker(info.Env(), info[0].As<Napi::Object>(), data, len, sectorSize, first);
  Napi::Promise p = worker->Promise();
  worker->Queue();
  return p;
}

Napi::Value SealSectors(const Napi::CallbackInfo& info) {
  uint8_t* data;
  size_t len;
  uint32_t sectorSize, first;
  if (!ParseRegion(info, &data, &len, &sectorSize, &first)) return info.Env().Undefined();
  for (size_t i = 0; i < len / sectorSize; i++) {
    uint8_t* s = data + i * sectorSize;
    StoreLe32(s + sectorSize - kTrailer, first + uint32_t(i));
    StoreLe32(s + sectorSize - 4, Crc32c(0, s, sectorSize - 4));
  }
  return info.Env().Undefined();
}

}  // namespace

void InitVerify(Napi::Env env, Napi::Object exports) {
  exports.Set("verifySectors", Napi::Function::New(env, VerifySectors, "verifySectors"));
  exports.Set("verifySectorsAsync", Napi::Function::New(env, VerifySectorsAsync, "verifySectorsAsync"));
  exports.Set("sealSectors", Napi::Function::New(env, SealSectors, "sealSectors"));
}

}  // namespace salvor
