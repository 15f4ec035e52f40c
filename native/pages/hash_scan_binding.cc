// JS functions over the hash scan (hash_scan.h): hashPages, scanPages (worker thread), scanPagesSync, xxh64.
#include <algorithm>
#include <cstring>
#include <string>

#include "../boundary.h"
#include "../errors.h"
#include "../modules.h"
#include "hash_scan.h"

namespace salvor {
namespace {

struct ScanArgs {
  uint8_t* region;
  size_t regionLen;
  uint32_t pageSize;
  uint8_t* hashes;
  size_t hashesLen;
  size_t pages;
  uint32_t threads = 0;
};

bool Invalid(Napi::Env env, const std::string& message) {
  CodeError(env, "SALVOR_EINVAL", message).ThrowAsJavaScriptException();
  return false;
}

// (region, pageSize, hashes[, threads]): the shape every page-hash call takes; `what` names the
// third argument in messages.
bool ParseScanArgs(const Napi::CallbackInfo& info, const char* what, bool withThreads, ScanArgs* a) {
  Napi::Env env = info.Env();
  if (!ArgBuffer(info, 0, &a->region, &a->regionLen) || !ArgUint32(info, 1, &a->pageSize) ||
      !ArgBuffer(info, 2, &a->hashes, &a->hashesLen))
    return false;
  if (a->pageSize < 512 || a->pageSize > 65536 || (a->pageSize & (a->pageSize - 1)) != 0)
    return Invalid(env, "pageSize must be a power of two from 512 to 65536, got " + std::to_string(a->pageSize));
  if (a->regionLen % a->pageSize != 0)
    return Invalid(env, "region length " + std::to_string(a->regionLen) + " is not a multiple of pageSize " +
                            std::to_string(a->pageSize));
  a->pages = a->regionLen / a->pageSize;
  if (a->pages > UINT32_MAX) return Invalid(env, "region has more than 2^32-1 pages");
  if (a->hashesLen != a->pages * 8)
    return Invalid(env, std::string(what) + " must be exactly 8 bytes per page (" + std::to_string(a->pages * 8) +
                            " bytes for " + std::to_string(a->pages) + " pages), got " + std::to_string(a->hashesLen));
  if (a->pages > 0 && a->region < a->hashes + a->hashesLen && a->hashes < a->region + a->regionLen)
    return Invalid(env, std::string(what) + " must not overlap the region");
  if (withThreads && info.Length() > 3 && !info[3].IsUndefined()) {
    if (!ArgUint32(info, 3, &a->threads)) return false;
    if (a->threads > kMaxScanThreads)
      return Invalid(env, "threads must be 0 (default) to " + std::to_string(kMaxScanThreads) + ", got " + std::to_string(a->threads));
  }
  return true;
}

Napi::Uint32Array ToUint32Array(Napi::Env env, const std::vector<uint32_t>& v) {
  Napi::Uint32Array out = Napi::Uint32Array::New(env, v.size());
  // Empty when JS cannot run any more (a worker being terminated completes its work in teardown).
  if (!out.IsEmpty() && !v.empty()) memcpy(out.Data(), v.data(), v.size() * 4);
  return out;
}

Napi::Value HashPagesJs(const Napi::CallbackInfo& info) {
  ScanArgs a;
  if (!ParseScanArgs(info, "out", false, &a)) return info.Env().Undefined();
  HashPages(a.region, a.pages, a.pageSize, a.hashes);
  return info.Env().Undefined();
}

Napi::Value ScanPagesSync(const Napi::CallbackInfo& info) {
  ScanArgs a;
  if (!ParseScanArgs(info, "hashes", true, &a)) return info.Env().Undefined();
  std::vector<uint32_t> runs;
  ScanRegion(a.region, a.pages, a.pageSize, a.hashes, a.threads, &runs);
  return ToUint32Array(info.Env(), runs);
}

// Baton: the region and the fingerprints stay referenced and pinned by bindings/addon.ts (a transfer copies them instead
// of detaching them) until OnOK/OnError; Execute makes no Node-API call.
class ScanWorker : public Napi::AsyncWorker {
 public:
  ScanWorker(Napi::Env env, Napi::Object region, Napi::Object hashes, const ScanArgs& args)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), args_(args) {
    region_.Reset(region, 1);
    hashes_.Reset(hashes, 1);
  }
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Execute() override { ScanRegion(args_.region, args_.pages, args_.pageSize, args_.hashes, args_.threads, &runs_); }
  void OnOK() override {
    Release();
    deferred_.Resolve(ToUint32Array(Env(), runs_));
  }
  void OnError(const Napi::Error& e) override {
    Release();
    deferred_.Reject(e.Value());
  }

 private:
  void Release() {
    region_.Reset();
    hashes_.Reset();
  }
  Napi::Promise::Deferred deferred_;
  Napi::ObjectReference region_, hashes_;
  ScanArgs args_;
  std::vector<uint32_t> runs_;
};

Napi::Value ScanPages(const Napi::CallbackInfo& info) {
  ScanArgs a;
  if (!ParseScanArgs(info, "hashes", true, &a) || !CheckAttached(info.Env(), info[0], 0) || !CheckAttached(info.Env(), info[2], 2))
    return info.Env().Undefined();
  auto* worker = new ScanWorker(info.Env(), info[0].As<Napi::Object>(), info[2].As<Napi::Object>(), a);
  Napi::Promise p = worker->Promise();
  worker->Queue();
  return p;
}

// xxh64(buf[, seed: bigint]) -> bigint: the plain hash, for known-answer tests and single blobs.
Napi::Value Xxh64Js(const Napi::CallbackInfo& info) {
  uint8_t* data;
  size_t len;
  if (!ArgBuffer(info, 0, &data, &len)) return info.Env().Undefined();
  uint64_t seed = 0;
  if (info.Length() > 1 && !info[1].IsUndefined()) {
    bool lossless = false;
    if (info[1].IsBigInt()) seed = info[1].As<Napi::BigInt>().Uint64Value(&lossless);
    if (!lossless) {
      Invalid(info.Env(), "argument 1 must be a bigint from 0 to 2^64-1");
      return info.Env().Undefined();
    }
  }
  return Napi::BigInt::New(info.Env(), Xxh64(data, len, seed));
}

}  // namespace

void InitHashScan(Napi::Env env, Napi::Object exports) {
  exports.Set("hashPages", Napi::Function::New(env, HashPagesJs, "hashPages"));
  exports.Set("scanPages", Napi::Function::New(env, ScanPages, "scanPages"));
  exports.Set("scanPagesSync", Napi::Function::New(env, ScanPagesSync, "scanPagesSync"));
  exports.Set("xxh64", Napi::Function::New(env, Xxh64Js, "xxh64"));
  exports.Set("hashScanBackend", Napi::String::New(env, HashScanBackend()));
  exports.Set("hashScanDefaultThreads", Napi::Number::New(env, DefaultScanThreads()));
}

}  // namespace salvor
