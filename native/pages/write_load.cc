// startWriteLoad(region, seed, burstPages) -> stop(): a native thread that keeps writing random bytes
// into random pages of a Region, as an application thread would, until stop() returns the number of
// writes. Tests use it to race writers against collect(); benchmarks to load a region.
#include <atomic>
#include <random>
#include <thread>

#include "../errors.h"
#include "../modules.h"
#include "mapping.h"

namespace salvor {

Mapping* RegionMapping(Napi::Value region);  // region.cc

namespace {

struct Load {
  Mapping* mapping;
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> writes{0};
  std::thread thread;
};

void Run(Load* load, uint32_t seed, uint32_t burst) {
  std::mt19937_64 rng(seed);
  const size_t pageSize = SystemPageSize();
  const size_t pages = load->mapping->len() / pageSize;
  uint8_t* base = load->mapping->base();
  while (!load->stop.load(std::memory_order_relaxed)) {
    for (uint32_t i = 0; i < burst; i++) {
      uint64_t r = rng();
      size_t page = size_t(r % pages);
      size_t offset = size_t((r >> 32) % pageSize);
      reinterpret_cast<volatile uint8_t*>(base)[page * pageSize + offset] = uint8_t(r >> 24);
    }
    load->writes.fetch_add(burst, std::memory_order_relaxed);
    std::this_thread::yield();
  }
}

Napi::Value StartWriteLoad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Mapping* m = info.Length() > 0 ? RegionMapping(info[0]) : nullptr;
  uint32_t seed = 1, burst = 16;
  if (m == nullptr) {
    CodeError(env, "SALVOR_EINVAL", "startWriteLoad needs an open Region").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if ((info.Length() > 1 && !ArgUint32(info, 1, &seed)) || (info.Length() > 2 && !ArgUint32(info, 2, &burst))) return env.Undefined();
  auto* load = new Load();
  load->mapping = m;
  m->Ref();  // the memory outlives a close() of the region until this thread stops
  load->thread = std::thread(Run, load, seed, burst == 0 ? 1 : burst);
  return Napi::Function::New(env, [load](const Napi::CallbackInfo& i) -> Napi::Value {
    if (load->thread.joinable()) {
      load->stop.store(true);
      load->thread.join();
      load->mapping->Unref();
    }
    return Napi::Number::New(i.Env(), double(load->writes.load()));
  });
}

}  // namespace

void InitWriteLoad(Napi::Env env, Napi::Object exports) {
  exports.Set("startWriteLoad", Napi::Function::New(env, StartWriteLoad, "startWriteLoad"));
}

}  // namespace salvor
