// Region::stage(runs): copies pages out of the region for the caller (copyPages, collectPages).
#include <algorithm>
#include <cstring>
#include <new>

#include "region.h"

namespace salvor {
namespace {

// Baton for stage(runs): copies the pages of `runs` out of the region (under a fault guard, since a
// shared file may shrink) and lets every attached tracker restamp from the copy.
class StageWorker : public Napi::AsyncWorker {
 public:
  StageWorker(Napi::Env env, Region* region, std::vector<uint32_t> runs, size_t pages)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), region_(region), runs_(std::move(runs)),
        pages_(pages), trackers_(region->TakeAll()) {
    self_.Reset(region->Value(), 1);
    region->mapping()->Ref();
    mapping_ = region->mapping();
  }
  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    const size_t pageSize = SystemPageSize();
    staged_ = new (std::nothrow) uint8_t[pages_ * pageSize];
    if (staged_ == nullptr) return;
    struct Copy {
      const std::vector<uint32_t>* runs;
      const uint8_t* base;
      uint8_t* out;
      size_t pageSize;
    } copy{&runs_, mapping_->base(), staged_, pageSize};
    ok_ = RunGuarded(
        [](void* p) {
          auto* c = static_cast<Copy*>(p);
          uint8_t* out = c->out;
          for (size_t i = 0; i + 1 < c->runs->size(); i += 2) {
            size_t bytes = size_t((*c->runs)[i + 1]) * c->pageSize;
            memcpy(out, c->base + size_t((*c->runs)[i]) * c->pageSize, bytes);
            out += bytes;
          }
        },
        &copy);
    if (ok_)
      for (auto& [kind, t] : trackers_) t->Restamp(staged_, runs_);
  }

  void OnOK() override {
    Napi::Env env = Env();
    bool closed = region_->closing();
    for (auto& [kind, t] : trackers_) region_->Finished(kind);
    mapping_->Unref();
    self_.Reset();
    if (closed || !ok_) {
      delete[] staged_;
      deferred_.Reject(closed              ? CodeError(env, "SALVOR_CLOSED", "region was closed during stage").Value()
                       : staged_ == nullptr ? ErrnoError(env, ENOMEM, "malloc").Value()
                                            : CodeError(env, "SALVOR_SHRUNK", "the region's file shrank while its pages were copied").Value());
      return;
    }
    deferred_.Resolve(Napi::Buffer<uint8_t>::New(env, staged_, pages_ * SystemPageSize(), [](Napi::Env, uint8_t* p) { delete[] p; }));
  }

 private:
  Napi::Promise::Deferred deferred_;
  Napi::ObjectReference self_;
  Region* region_;
  Mapping* mapping_;
  std::vector<uint32_t> runs_;
  size_t pages_;
  std::vector<std::pair<std::string, Tracker*>> trackers_;
  uint8_t* staged_ = nullptr;
  bool ok_ = false;
};

}  // namespace

Napi::Value Region::Stage(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!Open(env)) return env.Undefined();
  if (info.Length() < 1 || !info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array) {
    CodeError(env, "SALVOR_EINVAL", "stage takes a Uint32Array of runs [first, count, ...]").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Uint32Array flat = info[0].As<Napi::Uint32Array>();
  const size_t total = mapping_->len() / SystemPageSize();
  size_t pages = 0;
  std::vector<uint32_t> runs(flat.Data(), flat.Data() + flat.ElementLength());
  if (runs.size() % 2 != 0) {
    CodeError(env, "SALVOR_EINVAL", "stage: runs come in [first, count] pairs").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  // Checked before anything is allocated: each run inside the region, no two overlapping (so the
  // copy is at most the region), and the copy within one Buffer.
  std::vector<std::pair<uint32_t, uint32_t>> sorted;
  sorted.reserve(runs.size() / 2);
  for (size_t i = 0; i < runs.size(); i += 2) {
    if (runs[i + 1] == 0 || size_t(runs[i]) + runs[i + 1] > total) {
      CodeError(env, "SALVOR_EINVAL", "stage: run " + std::to_string(runs[i]) + "+" + std::to_string(runs[i + 1]) + " is outside the region's " +
                                          std::to_string(total) + " pages")
          .ThrowAsJavaScriptException();
      return env.Undefined();
    }
    sorted.emplace_back(runs[i], runs[i + 1]);
    pages += runs[i + 1];
  }
  std::sort(sorted.begin(), sorted.end());
  for (size_t i = 1; i < sorted.size(); i++)
    if (size_t(sorted[i - 1].first) + sorted[i - 1].second > sorted[i].first) {
      CodeError(env, "SALVOR_EINVAL", "stage: runs " + std::to_string(sorted[i - 1].first) + "+" + std::to_string(sorted[i - 1].second) + " and " +
                                          std::to_string(sorted[i].first) + "+" + std::to_string(sorted[i].second) + " overlap")
          .ThrowAsJavaScriptException();
      return env.Undefined();
    }
  if (pages * SystemPageSize() > MaxBufferLength(env)) {
    CodeError(env, "SALVOR_TOO_LARGE", "stage: " + std::to_string(pages) + " pages are more than one Buffer can hold (" +
                                           std::to_string(MaxBufferLength(env)) + " bytes); copy them in smaller batches")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (AnyBusy()) {
    CodeError(env, "SALVOR_BUSY", "a tracker of this region is running a round").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  auto* worker = new StageWorker(env, this, std::move(runs), pages);
  Napi::Promise p = worker->Promise();
  worker->Queue();
  return p;
}

}  // namespace salvor
