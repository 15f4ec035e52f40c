// CPU features the CRC and hashing paths can use: cpuid bits and, for AVX state, whether the OS
// saves the registers (XCR0). On aarch64, the HWCAP bits the kernel passes in the aux vector.
#include <napi.h>

#include <cstdint>

#include "probe.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#if defined(__aarch64__)
#include <asm/hwcap.h>
#include <sys/auxv.h>
#endif

namespace salvor {
namespace {

struct CpuFacts {
  bool cpuid = false;
  bool sse42 = false;
  bool pclmulqdq = false;
  bool osxsave = false;
  bool avx512f = false;
  bool vpclmulqdq = false;
  uint64_t xcr0 = 0;
  uint64_t hwcap = 0;
  bool armCrc32 = false;
  bool armPmull = false;
};

#if defined(__x86_64__) || defined(__i386__)
// xgetbv faults unless CR4.OSXSAVE is set, so callers check the cpuid OSXSAVE bit first.
uint64_t ReadXcr0() {
  uint32_t eax, edx;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (uint64_t(edx) << 32) | eax;
}
#endif

CpuFacts ReadCpu() {
  CpuFacts f;
#if defined(__x86_64__) || defined(__i386__)
  unsigned a, b, c, d;
  if (__get_cpuid_count(1, 0, &a, &b, &c, &d)) {
    f.cpuid = true;
    f.sse42 = (c >> 20) & 1;
    f.pclmulqdq = (c >> 1) & 1;
    f.osxsave = (c >> 27) & 1;
  }
  if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
    f.avx512f = (b >> 16) & 1;
    f.vpclmulqdq = (c >> 10) & 1;
  }
  if (f.osxsave) f.xcr0 = ReadXcr0();
#endif
#if defined(__aarch64__)
  f.hwcap = getauxval(AT_HWCAP);
  f.armCrc32 = (f.hwcap & HWCAP_CRC32) != 0;
  f.armPmull = (f.hwcap & HWCAP_PMULL) != 0;
#endif
  return f;
}

// probeCpu() -> raw cpuid / XCR0 / HWCAP facts; whether a feature is usable is decided in TS.
Napi::Value ProbeCpu(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CpuFacts f = ReadCpu();
  Napi::Object out = Napi::Object::New(env);
  out.Set("cpuid", f.cpuid);
  out.Set("sse42", f.sse42);
  out.Set("pclmulqdq", f.pclmulqdq);
  out.Set("osxsave", f.osxsave);
  out.Set("avx512f", f.avx512f);
  out.Set("vpclmulqdq", f.vpclmulqdq);
  out.Set("xcr0", Napi::Number::New(env, double(f.xcr0)));
  out.Set("hwcap", Napi::Number::New(env, double(f.hwcap)));
  out.Set("armCrc32", f.armCrc32);
  out.Set("armPmull", f.armPmull);
  return out;
}

}  // namespace

void InitProbeCpu(Napi::Env env, Napi::Object exports) {
  exports.Set("probeCpu", Napi::Function::New(env, ProbeCpu, "probeCpu"));
}

}  // namespace salvor
