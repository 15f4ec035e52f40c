// Region (region.h): arm/collect on a worker thread, and the module's registration.
#include "region.h"

#include "../modules.h"

namespace salvor {
namespace {

// Baton for arm/collect: the tracker runs on a worker thread; the region object stays referenced.
class TrackerWorker : public Napi::AsyncWorker {
 public:
  TrackerWorker(Napi::Env env, Region* region, Tracker* tracker, std::string kind, bool collect)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), region_(region), tracker_(tracker),
        kind_(std::move(kind)), collect_(collect) {
    self_.Reset(region->Value(), 1);
  }
  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    rc_ = collect_ ? tracker_->Collect(&runs_, &syscall_) : tracker_->Arm(&syscall_);
  }

  void OnOK() override {
    Napi::Env env = Env();
    bool closed = region_->closing();
    region_->Finished(kind_);
    self_.Reset();
    if (closed)
      deferred_.Reject(CodeError(env, "SALVOR_CLOSED", "region was closed during " + std::string(collect_ ? "collect" : "arm")).Value());
    else if (rc_ != 0)
      deferred_.Reject((rc_ == -EFAULT ? CodeError(env, "SALVOR_SHRUNK", "the region's file shrank during the scan")
                                       : ErrnoError(env, -rc_, syscall_))
                           .Value());
    else {
      auto out = Napi::Uint32Array::New(env, runs_.size());
      if (out.IsEmpty()) return;  // JS cannot run any more: a worker's environment is being torn down
      for (size_t i = 0; i < runs_.size(); i++) out[i] = runs_[i];
      deferred_.Resolve(out);
    }
  }

 private:
  Napi::Promise::Deferred deferred_;
  Napi::ObjectReference self_;
  Region* region_;
  Tracker* tracker_;
  std::string kind_;
  bool collect_;
  int rc_ = 0;
  const char* syscall_ = "";
  std::vector<uint32_t> runs_;
};

}  // namespace

Napi::Value Region::Run(const Napi::CallbackInfo& info, bool collect) {
  Napi::Env env = info.Env();
  if (!Open(env)) return env.Undefined();
  std::string kind = info.Length() > 0 && info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "";
  auto it = trackers_.find(kind);
  if (it == trackers_.end() || it->second.dropWhenIdle) {
    CodeError(env, "SALVOR_EINVAL", "tracker " + kind + " is not attached").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (it->second.busy) {
    CodeError(env, "SALVOR_BUSY", "tracker " + kind + " is already running a round").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (mapping_->shared() && mapping_->FileSize() < (long long)mapping_->len()) {
    CodeError(env, "SALVOR_SHRUNK", "the region's file is now " + std::to_string(mapping_->FileSize()) + " bytes, less than the " +
                                        std::to_string(mapping_->len()) + " mapped")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  it->second.busy = true;
  auto* worker = new TrackerWorker(env, this, it->second.tracker.get(), kind, collect);
  Napi::Promise p = worker->Promise();
  worker->Queue();
  return p;
}


Mapping* RegionMapping(Napi::Value v) {
  if (!Region::Is(v)) return nullptr;
  Region* r = Region::Unwrap(v.As<Napi::Object>());
  return r->closing() ? nullptr : r->mapping();
}

void InitRegion(Napi::Env env, Napi::Object exports) {
  exports.Set("Region", Region::Define(env));
  exports.Set("pageSize", Napi::Number::New(env, double(SystemPageSize())));
}

}  // namespace salvor
