// Region: memory salvor tracks page by page (native/pages/mapping.h), with any number of trackers
// attached by kind. JS: new Region(size | path); buffer(offset?, length?); attach(kind, threads?);
// arm(kind) and collect(kind) -> Promise (worker thread); stage(runs) -> Promise (region_stage.cc);
// detach(kind); fileSize(); close() (idempotent).
#pragma once
#include <errno.h>
#include <napi.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "../boundary.h"
#include "../errors.h"
#include "hash_scan.h"
#include "tracker.h"

namespace salvor {

struct Attached {
  std::unique_ptr<Tracker> tracker;
  bool busy = false;
  bool dropWhenIdle = false;
};

class Region : public Napi::ObjectWrap<Region> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Region",
                       {InstanceMethod<&Region::Buffer>("buffer"), InstanceMethod<&Region::Attach>("attach"),
                        InstanceMethod<&Region::Arm>("arm"), InstanceMethod<&Region::Collect>("collect"),
                        InstanceMethod<&Region::Detach>("detach"), InstanceMethod<&Region::FileSize>("fileSize"),
                        InstanceMethod<&Region::Close>("close"), InstanceMethod<&Region::Stage>("stage"),
                        InstanceAccessor<&Region::Size>("size"),
                        InstanceAccessor<&Region::Shared>("shared"), InstanceAccessor<&Region::Closed>("closed")});
  }

  explicit Region(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Region>(info) {
    Napi::Env env = info.Env();
    int err = 0;
    const char* syscall = "";
    if (info.Length() > 0 && info[0].IsString()) {
      std::string path = info[0].As<Napi::String>();
      size_t len = 0;
      mapping_ = Mapping::SharedFile(path, &len, &err, &syscall);
      if (mapping_ == nullptr && err == EINVAL && std::string(syscall) == "fstat") {
        CodeError(env, "SALVOR_EINVAL", path + " holds " + std::to_string(len) + " bytes; a region must be a non-empty regular file of whole " +
                                            std::to_string(SystemPageSize()) + "-byte pages")
            .ThrowAsJavaScriptException();
        return;
      }
      if (mapping_ == nullptr) {
        ErrnoError(env, err, syscall, path).ThrowAsJavaScriptException();
        return;
      }
    } else {
      double size = info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : -1;
      if (size <= 0 || size != double(uint64_t(size)) || uint64_t(size) % SystemPageSize() != 0 ||
          uint64_t(size) / SystemPageSize() > UINT32_MAX) {
        CodeError(env, "SALVOR_EINVAL", "region size must be a positive multiple of the page size " + std::to_string(SystemPageSize()))
            .ThrowAsJavaScriptException();
        return;
      }
      mapping_ = Mapping::Anonymous(size_t(size), &err, &syscall);
      if (mapping_ == nullptr) {
        ErrnoError(env, err, syscall).ThrowAsJavaScriptException();
        return;
      }
    }
    info.This().As<Napi::Object>().TypeTag(&kTypeTag);
    napi_add_env_cleanup_hook(env, CleanupHook, this);
  }

  ~Region() override { Shutdown(); }

  // Called by a worker when it is done with a tracker, on the JS thread.
  void Finished(const std::string& kind) {
    auto it = trackers_.find(kind);
    if (it == trackers_.end()) return;
    it->second.busy = false;
    if (it->second.dropWhenIdle) Drop(it);
    if (closing_ && !AnyBusy()) ReleaseMapping();
  }

  Mapping* mapping() const { return mapping_; }
  // Marks every attached tracker busy (a stage restamps them) and returns them; Finished(kind) frees each.
  std::vector<std::pair<std::string, Tracker*>> TakeAll() {
    std::vector<std::pair<std::string, Tracker*>> all;
    for (auto& [kind, a] : trackers_) {
      a.busy = true;
      all.emplace_back(kind, a.tracker.get());
    }
    return all;
  }
  static bool Is(Napi::Value v) { return v.IsObject() && v.As<Napi::Object>().CheckTypeTag(&kTypeTag); }
  static constexpr napi_type_tag kTypeTag = {0x73616c766f725265ull, 0x67696f6e00000001ull};  // "salvorRegion", v1
  bool closing() const { return closing_; }

 private:
  static void CleanupHook(void* self) { static_cast<Region*>(self)->Shutdown(); }

  Napi::Value Size(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), mapping_ ? double(mapping_->len()) : 0); }
  Napi::Value Shared(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), mapping_ && mapping_->shared()); }
  Napi::Value Closed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), closing_); }

  bool Open(Napi::Env env) {
    if (!closing_ && mapping_ != nullptr) return true;
    CodeError(env, "SALVOR_CLOSED", "region is closed").ThrowAsJavaScriptException();
    return false;
  }

  // buffer(): the whole region (one Buffer, kept); buffer(offset, length): a window onto it, a new
  // Buffer each call. Either is at most Node's Buffer limit: a larger region is read in windows.
  Napi::Value Buffer(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Open(env)) return env.Undefined();
    const size_t limit = MaxBufferLength(env);
    if (info.Length() == 0 || info[0].IsUndefined()) {
      if (mapping_->len() > limit) {
        CodeError(env, "SALVOR_TOO_LARGE", "the region holds " + std::to_string(mapping_->len()) + " bytes, more than the " +
                                               std::to_string(limit) + " one Buffer can; read it through windows")
            .ThrowAsJavaScriptException();
        return env.Undefined();
      }
      if (buffer_.IsEmpty()) {
        Napi::Buffer<uint8_t> buf = View(env, 0, mapping_->len());
        if (buf.IsEmpty()) return env.Undefined();
        buffer_.Reset(buf, 1);
      }
      return buffer_.Value();
    }
    double offset = info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : -1;
    double length = info.Length() > 1 && info[1].IsNumber() ? info[1].As<Napi::Number>().DoubleValue() : -1;
    if (offset < 0 || length <= 0 || offset != double(uint64_t(offset)) || length != double(uint64_t(length)) ||
        uint64_t(offset) + uint64_t(length) > mapping_->len()) {
      CodeError(env, "SALVOR_EINVAL", "a window is (offset, length): whole numbers, length above 0, ending within the region's " +
                                          std::to_string(mapping_->len()) + " bytes")
          .ThrowAsJavaScriptException();
      return env.Undefined();
    }
    if (uint64_t(length) > limit) {
      CodeError(env, "SALVOR_TOO_LARGE", "a window of " + std::to_string(uint64_t(length)) + " bytes is more than the " +
                                             std::to_string(limit) + " one Buffer can hold")
          .ThrowAsJavaScriptException();
      return env.Undefined();
    }
    return View(env, size_t(offset), size_t(length));
  }

  // A Buffer over [offset, offset+length) that keeps the mapping alive until it is collected.
  Napi::Buffer<uint8_t> View(Napi::Env env, size_t offset, size_t length) {
    mapping_->Ref();
    return Napi::Buffer<uint8_t>::New(env, mapping_->base() + offset, length, [](Napi::Env, uint8_t*, Mapping* m) { m->Unref(); }, mapping_);
  }

  Napi::Value Attach(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Open(env)) return env.Undefined();
    std::string kind = info.Length() > 0 && info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "";
    if (trackers_.count(kind)) {
      CodeError(env, "SALVOR_EINVAL", "tracker " + kind + " is already attached").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    int err = 0;
    const char* syscall = "";
    Tracker* t = nullptr;
    if (kind == "uffd-wp")
      t = NewUffdTracker(mapping_, &err, &syscall);
    else if (kind == "mprotect")
      t = NewMprotectTracker(mapping_, &err, &syscall);
    else if (kind == "soft-dirty")
      t = NewSoftDirtyTracker(mapping_, &err, &syscall);
    else if (kind == "hash") {
      uint32_t threads = 0;
      if (info.Length() > 1 && !info[1].IsUndefined() && (!ArgUint32(info, 1, &threads) || threads > kMaxScanThreads)) {
        if (!env.IsExceptionPending())
          CodeError(env, "SALVOR_EINVAL", "hash threads must be 0 (default) to " + std::to_string(kMaxScanThreads)).ThrowAsJavaScriptException();
        return env.Undefined();
      }
      t = NewHashTracker(mapping_, threads, &err, &syscall);
    }
    else {
      CodeError(env, "SALVOR_EINVAL", "unknown tracker kind '" + kind + "'").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    if (t == nullptr) {
      ErrnoError(env, err, syscall).ThrowAsJavaScriptException();
      return env.Undefined();
    }
    trackers_[kind].tracker.reset(t);
    return env.Undefined();
  }

  Napi::Value Stage(const Napi::CallbackInfo& info);
  Napi::Value Arm(const Napi::CallbackInfo& info) { return Run(info, false); }
  Napi::Value Collect(const Napi::CallbackInfo& info) { return Run(info, true); }
  Napi::Value Run(const Napi::CallbackInfo& info, bool collect);

  Napi::Value Detach(const Napi::CallbackInfo& info) {
    std::string kind = info.Length() > 0 && info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "";
    auto it = trackers_.find(kind);
    if (it != trackers_.end()) {
      if (it->second.busy)
        it->second.dropWhenIdle = true;
      else
        Drop(it);
    }
    return info.Env().Undefined();
  }

  Napi::Value FileSize(const Napi::CallbackInfo& info) {
    if (!Open(info.Env())) return info.Env().Undefined();
    long long size = mapping_->FileSize();
    if (size < 0) {
      ErrnoError(info.Env(), int(-size), "fstat").ThrowAsJavaScriptException();
      return info.Env().Undefined();
    }
    return Napi::Number::New(info.Env(), double(size));
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    Shutdown();
    return info.Env().Undefined();
  }

  // Idempotent: detaches idle trackers now and busy ones when their worker finishes; the memory is
  // retired (zero pages, file released) once no tracker runs, and unmapped when JS drops the Buffer.
  void Shutdown() {
    if (closing_) return;
    closing_ = true;
    napi_remove_env_cleanup_hook(Env(), CleanupHook, this);
    for (auto it = trackers_.begin(); it != trackers_.end();) {
      auto next = std::next(it);
      if (it->second.busy)
        it->second.dropWhenIdle = true;
      else
        Drop(it);
      it = next;
    }
    buffer_.Reset();
    if (!AnyBusy()) ReleaseMapping();
  }

  void Drop(std::map<std::string, Attached>::iterator it) {
    it->second.tracker->Disarm();
    trackers_.erase(it);
  }

  bool AnyBusy() const {
    for (auto& [kind, a] : trackers_)
      if (a.busy) return true;
    return false;
  }

  void ReleaseMapping() {
    if (mapping_ == nullptr) return;
    mapping_->Retire();
    mapping_->Unref();
    mapping_ = nullptr;
  }

  Mapping* mapping_ = nullptr;
  bool closing_ = false;
  Napi::Reference<Napi::Buffer<uint8_t>> buffer_;
  std::map<std::string, Attached> trackers_;
};

}  // namespace salvor
