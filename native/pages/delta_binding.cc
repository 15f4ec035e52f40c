// Node-API face of the page delta codec: single pages (sync) and whole regions (sync and async).
// Argument shapes are checked again here (bindings/page-delta.ts checks them first, with clearer
// messages) because a wrong length here would mean reading past a buffer.
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "../boundary.h"
#include "../errors.h"
#include "../modules.h"
#include "delta.h"

namespace salvor {
namespace {

using pagedelta::ByteSink;
using pagedelta::DecodeError;

Napi::Error BadDelta(Napi::Env env, const DecodeError& err) {
  const std::string where = " at byte " + std::to_string(err.offset);
  return CodeError(env, "SALVOR_BAD_DELTA", "bad page delta: " + err.message + where);
}

bool Invalid(Napi::Env env, const std::string& message) {
  CodeError(env, "SALVOR_EINVAL", message).ThrowAsJavaScriptException();
  return false;
}

// Hands the sink's storage to a Node Buffer (copied only where external buffers are not allowed).
Napi::Value ToBuffer(Napi::Env env, ByteSink* sink) {
  const size_t size = sink->size();
  uint8_t* data = sink->Release();
  return Napi::Buffer<uint8_t>::NewOrCopy(env, data, size, [](Napi::Env, uint8_t* p) { free(p); });
}

struct View {
  uint8_t* data = nullptr;
  size_t len = 0;
};

bool ArgPage(const Napi::CallbackInfo& info, size_t i, View* v) {
  if (!ArgBuffer(info, i, &v->data, &v->len)) return false;
  if (!pagedelta::ValidPageSize(v->len))
    return Invalid(info.Env(),
                   "argument " + std::to_string(i) + " must be one page: a power of two from 512 to 65536 bytes");
  return true;
}

// (oldPages, newPages | deltas, pageSize): a region that is whole pages.
bool ArgRegion(const Napi::CallbackInfo& info, View* region, size_t* pageSize) {
  uint32_t size;
  if (!ArgBuffer(info, 0, &region->data, &region->len) || !ArgUint32(info, 2, &size)) return false;
  if (!pagedelta::ValidPageSize(size)) return Invalid(info.Env(), "page size must be a power of two from 512 to 65536");
  if (region->len % size != 0) return Invalid(info.Env(), "region length must be a whole number of pages");
  *pageSize = size;
  return true;
}

struct EncodeArgs {
  View oldPages, newPages;
  size_t pageSize = 0;
  const uint32_t* indexes = nullptr;
  size_t indexCount = 0;
};

// (oldPages, newPages, pageSize, indexes?: Uint32Array, strictly increasing, each below the page count)
bool ParseEncode(const Napi::CallbackInfo& info, EncodeArgs* a) {
  Napi::Env env = info.Env();
  if (!ArgRegion(info, &a->oldPages, &a->pageSize) || !ArgBuffer(info, 1, &a->newPages.data, &a->newPages.len))
    return false;
  if (a->newPages.len != a->oldPages.len) return Invalid(env, "old and new regions must have the same length");
  if (info.Length() < 4 || info[3].IsUndefined() || info[3].IsNull()) return true;
  if (!info[3].IsTypedArray() || info[3].As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array)
    return Invalid(env, "page indexes must be a Uint32Array");
  Napi::Uint32Array list = info[3].As<Napi::Uint32Array>();
  a->indexCount = list.ElementLength();
  // An empty list means no pages; a null pointer would mean every page.
  static const uint32_t kNoPages[1] = {0};
  a->indexes = a->indexCount ? list.Data() : kNoPages;
  const size_t pageCount = a->oldPages.len / a->pageSize;
  for (size_t k = 0; k < a->indexCount; k++) {
    if (a->indexes[k] >= pageCount)
      return Invalid(env, "page index " + std::to_string(a->indexes[k]) + " is past the region");
    if (k && a->indexes[k] <= a->indexes[k - 1]) return Invalid(env, "page indexes must be strictly increasing");
  }
  return true;
}

Napi::Value EncodePageDelta(const Napi::CallbackInfo& info) {
  View oldPage, newPage;
  if (!ArgPage(info, 0, &oldPage) || !ArgPage(info, 1, &newPage)) return info.Env().Undefined();
  if (oldPage.len != newPage.len) {
    Invalid(info.Env(), "old and new pages must have the same size");
    return info.Env().Undefined();
  }
  pagedelta::PageEncoder encoder(oldPage.len);
  if (encoder.Encode(oldPage.data, newPage.data) != pagedelta::kFull)
    return Napi::Buffer<uint8_t>::Copy(info.Env(), encoder.Encoded(), encoder.EncodedSize());
  Napi::Buffer<uint8_t> out = Napi::Buffer<uint8_t>::New(info.Env(), encoder.EncodedSize());
  if (out.IsEmpty()) return info.Env().Undefined();  // allocation failed; the exception is pending
  out.Data()[0] = encoder.Encoded()[0];
  memcpy(out.Data() + 1, newPage.data, newPage.len);
  return out;
}

Napi::Value ApplyPageDelta(const Napi::CallbackInfo& info) {
  View oldPage, delta;
  if (!ArgPage(info, 0, &oldPage) || !ArgBuffer(info, 1, &delta.data, &delta.len)) return info.Env().Undefined();
  DecodeError err;
  if (!pagedelta::ApplyPage(delta.data, delta.len, nullptr, oldPage.len, 0, &err)) {
    BadDelta(info.Env(), err).ThrowAsJavaScriptException();
    return info.Env().Undefined();
  }
  Napi::Buffer<uint8_t> out = Napi::Buffer<uint8_t>::Copy(info.Env(), oldPage.data, oldPage.len);
  if (out.IsEmpty()) return info.Env().Undefined();
  pagedelta::ApplyPage(delta.data, delta.len, out.Data(), oldPage.len, 0, &err);
  return out;
}

Napi::Value EncodePageDeltas(const Napi::CallbackInfo& info) {
  EncodeArgs a;
  if (!ParseEncode(info, &a)) return info.Env().Undefined();
  ByteSink sink;
  if (!pagedelta::EncodeStream(a.oldPages.data, a.newPages.data, a.oldPages.len, a.pageSize, a.indexes, a.indexCount,
                               &sink)) {
    ErrnoError(info.Env(), ENOMEM, "malloc").ThrowAsJavaScriptException();
    return info.Env().Undefined();
  }
  return ToBuffer(info.Env(), &sink);
}

bool ParseApply(const Napi::CallbackInfo& info, View* pages, View* stream, size_t* pageSize) {
  if (!ArgRegion(info, pages, pageSize) || !ArgBuffer(info, 1, &stream->data, &stream->len)) return false;
  if (pages->data < stream->data + stream->len && stream->data < pages->data + pages->len)
    return Invalid(info.Env(), "the deltas must not share memory with the pages they update");
  return true;
}

Napi::Value ApplyPageDeltas(const Napi::CallbackInfo& info) {
  View pages, stream;
  size_t pageSize, applied = 0;
  if (!ParseApply(info, &pages, &stream, &pageSize)) return info.Env().Undefined();
  DecodeError err;
  if (!pagedelta::ApplyStream(pages.data, pages.len, pageSize, stream.data, stream.len, &applied, &err)) {
    BadDelta(info.Env(), err).ThrowAsJavaScriptException();
    return info.Env().Undefined();
  }
  return Napi::Number::New(info.Env(), double(applied));
}

// Batons: the buffers stay referenced and pinned by bindings/addon.ts (a transfer copies them instead of detaching them)
// until the promise settles; Execute makes no Node-API calls.
class EncodeWorker : public Napi::AsyncWorker {
 public:
  EncodeWorker(const Napi::CallbackInfo& info, const EncodeArgs& args)
      : Napi::AsyncWorker(info.Env()), deferred_(Napi::Promise::Deferred::New(info.Env())), args_(args) {
    for (size_t i = 0; i < 4 && i < info.Length(); i++)
      if (info[i].IsObject()) refs_[i].Reset(info[i].As<Napi::Object>(), 1);
  }
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Execute() override {
    ok_ = pagedelta::EncodeStream(args_.oldPages.data, args_.newPages.data, args_.oldPages.len, args_.pageSize,
                                  args_.indexes, args_.indexCount, &sink_);
  }
  void OnOK() override {
    Release();
    if (ok_)
      deferred_.Resolve(ToBuffer(Env(), &sink_));
    else
      deferred_.Reject(ErrnoError(Env(), ENOMEM, "malloc").Value());
  }
  void OnError(const Napi::Error& e) override {
    Release();
    deferred_.Reject(e.Value());
  }

 private:
  void Release() {
    for (auto& ref : refs_) ref.Reset();
  }
  Napi::Promise::Deferred deferred_;
  Napi::ObjectReference refs_[4];
  EncodeArgs args_;
  ByteSink sink_;
  bool ok_ = false;
};

class ApplyWorker : public Napi::AsyncWorker {
 public:
  ApplyWorker(const Napi::CallbackInfo& info, View pages, View stream, size_t pageSize)
      : Napi::AsyncWorker(info.Env()), deferred_(Napi::Promise::Deferred::New(info.Env())), pages_(pages),
        stream_(stream), pageSize_(pageSize) {
    pagesRef_.Reset(info[0].As<Napi::Object>(), 1);
    streamRef_.Reset(info[1].As<Napi::Object>(), 1);
  }
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Execute() override {
    ok_ = pagedelta::ApplyStream(pages_.data, pages_.len, pageSize_, stream_.data, stream_.len, &applied_, &err_);
  }
  void OnOK() override {
    pagesRef_.Reset();
    streamRef_.Reset();
    if (ok_)
      deferred_.Resolve(Napi::Number::New(Env(), double(applied_)));
    else
      deferred_.Reject(BadDelta(Env(), err_).Value());
  }
  void OnError(const Napi::Error& e) override {
    pagesRef_.Reset();
    streamRef_.Reset();
    deferred_.Reject(e.Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  Napi::ObjectReference pagesRef_, streamRef_;
  View pages_, stream_;
  size_t pageSize_, applied_ = 0;
  DecodeError err_;
  bool ok_ = false;
};

Napi::Value EncodePageDeltasAsync(const Napi::CallbackInfo& info) {
  EncodeArgs a;
  if (!ParseEncode(info, &a) || !CheckAttached(info.Env(), info[0], 0) || !CheckAttached(info.Env(), info[1], 1) ||
      (a.indexCount > 0 && !CheckAttached(info.Env(), info[3], 3)))
    return info.Env().Undefined();
  auto* worker = new EncodeWorker(info, a);
  Napi::Promise p = worker->Promise();
  worker->Queue();
  return p;
}

Napi::Value ApplyPageDeltasAsync(const Napi::CallbackInfo& info) {
  View pages, stream;
  size_t pageSize;
  if (!ParseApply(info, &pages, &stream, &pageSize) || !CheckAttached(info.Env(), info[0], 0) || !CheckAttached(info.Env(), info[1], 1))
    return info.Env().Undefined();
  auto* worker = new ApplyWorker(info, pages, stream, pageSize);
  Napi::Promise p = worker->Promise();
  worker->Queue();
  return p;
}

}  // namespace

void InitDelta(Napi::Env env, Napi::Object exports) {
  exports.Set("encodePageDelta", Napi::Function::New(env, EncodePageDelta, "encodePageDelta"));
  exports.Set("applyPageDelta", Napi::Function::New(env, ApplyPageDelta, "applyPageDelta"));
  exports.Set("encodePageDeltas", Napi::Function::New(env, EncodePageDeltas, "encodePageDeltas"));
  exports.Set("encodePageDeltasAsync", Napi::Function::New(env, EncodePageDeltasAsync, "encodePageDeltasAsync"));
  exports.Set("applyPageDeltas", Napi::Function::New(env, ApplyPageDeltas, "applyPageDeltas"));
  exports.Set("applyPageDeltasAsync", Napi::Function::New(env, ApplyPageDeltasAsync, "applyPageDeltasAsync"));
  exports.Set("pageDeltaBackend", Napi::String::New(env, pagedelta::CompareBackend()));
}

}  // namespace salvor
