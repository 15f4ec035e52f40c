// measureWriteFaultCost(kind, pages) -> nanoseconds one write to a tracked page costs the writer
// (the first write after arming), measured on scratch pages. The auto tracker policy weighs it
// against the cost of a hash scan; benchmarks report it.
#include <time.h>

#include <memory>
#include <string>

#include "../errors.h"
#include "../modules.h"
#include "tracker.h"

namespace salvor {
namespace {

double NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return double(ts.tv_sec) * 1e9 + double(ts.tv_nsec);
}

double TouchEveryPage(uint8_t* base, size_t pages, uint8_t value) {
  const size_t pageSize = SystemPageSize();
  double start = NowNs();
  for (size_t i = 0; i < pages; i++) *reinterpret_cast<volatile uint8_t*>(base + i * pageSize) = value;
  return NowNs() - start;
}

Napi::Value MeasureWriteFaultCost(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string kind = info.Length() > 0 && info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "";
  uint32_t pages = 512;
  if (info.Length() > 1 && !ArgUint32(info, 1, &pages)) return env.Undefined();
  if (pages < 16 || pages > 65536) pages = 512;
  int err = 0;
  const char* syscall = "";
  Mapping* m = Mapping::Anonymous(size_t(pages) * SystemPageSize(), &err, &syscall);
  if (m == nullptr) {
    ErrnoError(env, err, syscall).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  TouchEveryPage(m->base(), pages, 1);  // populate, so both passes below write present pages
  double plain = TouchEveryPage(m->base(), pages, 2);
  std::unique_ptr<Tracker> t;
  if (kind == "uffd-wp")
    t.reset(NewUffdTracker(m, &err, &syscall));
  else if (kind == "mprotect")
    t.reset(NewMprotectTracker(m, &err, &syscall));
  else if (kind == "soft-dirty")
    t.reset(NewSoftDirtyTracker(m, &err, &syscall));
  else {
    m->Unref();
    CodeError(env, "SALVOR_EINVAL", "no write-fault cost for tracker kind '" + kind + "'").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int rc = t ? t->Arm(&syscall) : -err;
  if (rc != 0) {
    t.reset();
    m->Unref();
    ErrnoError(env, -rc, syscall).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  double tracked = TouchEveryPage(m->base(), pages, 3);
  t->Disarm();
  t.reset();
  m->Unref();
  double perFault = (tracked - plain) / pages;
  return Napi::Number::New(env, perFault > 0 ? perFault : 0);
}

}  // namespace

void InitCalibrate(Napi::Env env, Napi::Object exports) {
  exports.Set("measureWriteFaultCost", Napi::Function::New(env, MeasureWriteFaultCost, "measureWriteFaultCost"));
}

}  // namespace salvor
