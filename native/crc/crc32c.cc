// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78): picks the fastest implementation this CPU
// runs, once. x86-64 paths live in crc32c_x86.cc; the ARMv8 path and the portable slicing-by-8
// fallback live here. SALVOR_CRC32C_BACKEND=<name> selects a slower one this CPU also runs, so
// tests and benchmarks can exercise every path on one machine.
#include <cstdlib>
#include <cstring>
#include <vector>

#include "crc.h"
#include "slice8.h"

#if defined(__aarch64__)
#include <arm_acle.h>
#include <sys/auxv.h>
#ifndef HWCAP_CRC32
#define HWCAP_CRC32 (1 << 7)
#endif
#endif

namespace salvor {

#if defined(__x86_64__)
uint32_t Crc32cSse42(uint32_t crc, const uint8_t* data, size_t len);   // crc32c_x86.cc
uint32_t Crc32cAvx512(uint32_t crc, const uint8_t* data, size_t len);  // crc32c_x86.cc
#endif

namespace {

constexpr uint32_t kPoly = 0x82F63B78u;

uint32_t Crc32cTable(uint32_t crc, const uint8_t* p, size_t n) { return Slice8<kPoly>::Compute(crc, p, n); }

// One bit at a time: the self-test's reference, sharing nothing with the table path.
uint32_t Crc32cBitwise(uint32_t crc, const uint8_t* p, size_t n) {
  crc = ~crc;
  while (n--) {
    crc ^= *p++;
    for (int k = 0; k < 8; k++) crc = (crc >> 1) ^ (kPoly & (0u - (crc & 1)));
  }
  return ~crc;
}

#if defined(__aarch64__)
#if defined(__clang__)
#define SALVOR_ARM_CRC_TARGET __attribute__((target("crc")))
#else
#define SALVOR_ARM_CRC_TARGET __attribute__((target("+crc")))
#endif

// One stream of the ARMv8 crc32c instructions; they take the register without inversion.
SALVOR_ARM_CRC_TARGET uint32_t Crc32cArm(uint32_t crc, const uint8_t* p, size_t n) {
  uint32_t c = ~crc;
  for (; n >= 8; p += 8, n -= 8) {
    uint64_t v;
    memcpy(&v, p, 8);
    c = __crc32cd(c, v);
  }
  if (n & 4) {
    uint32_t v;
    memcpy(&v, p, 4);
    c = __crc32cw(c, v);
    p += 4;
  }
  if (n & 2) {
    uint16_t v;
    memcpy(&v, p, 2);
    c = __crc32ch(c, v);
    p += 2;
  }
  if (n & 1) c = __crc32cb(c, *p);
  return ~c;
}
#endif

using CrcFn = uint32_t (*)(uint32_t, const uint8_t*, size_t);

struct Implementation {
  const char* name;
  CrcFn fn;
};

// Every implementation this CPU runs, fastest first; the table path is always last.
size_t Runnable(Implementation* out) {
  size_t n = 0;
#if defined(__x86_64__)
  __builtin_cpu_init();
  bool sse42 = __builtin_cpu_supports("sse4.2") && __builtin_cpu_supports("pclmul");
  if (sse42 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("vpclmulqdq"))
    out[n++] = {"avx512-vpclmulqdq", Crc32cAvx512};
  if (sse42) out[n++] = {"sse42-3way-pclmul", Crc32cSse42};
#elif defined(__aarch64__)
  if (getauxval(AT_HWCAP) & HWCAP_CRC32) out[n++] = {"armv8-crc", Crc32cArm};
#endif
  out[n++] = {"table", Crc32cTable};
  return n;
}

constexpr size_t kMaxImplementations = 4;

Implementation Choose() {
  Implementation all[kMaxImplementations];
  size_t n = Runnable(all);
  const char* wanted = getenv("SALVOR_CRC32C_BACKEND");
  if (wanted != nullptr)
    for (size_t i = 0; i < n; i++)
      if (strcmp(all[i].name, wanted) == 0) return all[i];
  return all[0];
}

const Implementation& Selected() {
  static const Implementation chosen = Choose();
  return chosen;
}

// Deterministic bytes for the self-test (no allocation-order or seed dependence).
void FillPattern(uint8_t* p, size_t n) {
  uint32_t s = 0x9E3779B9u;
  for (size_t i = 0; i < n; i++) {
    s = s * 1664525u + 1013904223u;
    p[i] = uint8_t(s >> 24);
  }
}

// Lengths around every tier the implementations switch on: single stream, one three-way block of
// any size, 12 KiB long blocks, 256-byte folding, 4 KiB sectors; each at several misalignments.
constexpr size_t kLengths[] = {0,    1,    2,    3,    4,    7,     8,     9,     15,    16,    17,
                               31,   63,   64,   65,   127,  143,   144,   145,   168,   191,   255,
                               256,  257,  319,  320,  511,  512,   513,   767,   768,   1000,  1023,
                               4088, 4092, 4096, 4100, 8191, 12287, 12288, 12289, 12312, 24576, 25000};
constexpr size_t kOffsets[] = {0, 1, 3, 7, 13};
constexpr size_t kCases = sizeof kLengths / sizeof kLengths[0] * (sizeof kOffsets / sizeof kOffsets[0]);

struct Expected {
  std::vector<uint8_t> buf = std::vector<uint8_t>(25000 + 16);
  uint32_t plain[kCases], seeded[kCases];
  Expected() {
    FillPattern(buf.data(), buf.size());
    size_t i = 0;
    for (size_t len : kLengths)
      for (size_t off : kOffsets) {
        plain[i] = Crc32cTable(0, buf.data() + off, len);
        seeded[i++] = Crc32cTable(uint32_t(len * 2654435761u), buf.data() + off, len);
      }
  }
};

bool AgreesWithTable(CrcFn fn, const Expected& want) {
  size_t i = 0;
  for (size_t len : kLengths)
    for (size_t off : kOffsets) {
      const uint8_t* p = want.buf.data() + off;
      size_t cut = len / 3;  // chaining through the seed equals one call
      if (fn(0, p, len) != want.plain[i] || fn(uint32_t(len * 2654435761u), p, len) != want.seeded[i] ||
          fn(fn(0, p, cut), p + cut, len - cut) != want.plain[i])
        return false;
      i++;
    }
  return true;
}

bool TableAgreesWithBitwise() {
  uint8_t buf[300];
  FillPattern(buf, sizeof buf);
  for (size_t len = 0; len <= 40; len++)
    if (Crc32cTable(0, buf + 1, len) != Crc32cBitwise(0, buf + 1, len)) return false;
  return Crc32cTable(0x12345678u, buf, sizeof buf) == Crc32cBitwise(0x12345678u, buf, sizeof buf);
}

}  // namespace

uint32_t Crc32c(uint32_t crc, const uint8_t* data, size_t len) { return Selected().fn(crc, data, len); }

const char* Crc32cBackend() { return Selected().name; }

bool CrcSelfTest() {
  const uint8_t digits[] = {'1', '2', '3', '4', '5', '6', '7', '8', '9'};
  if (Crc32(0, digits, 9) != 0xCBF43926u) return false;
  if (Crc32cBitwise(0, digits, 9) != 0xE3069283u || !TableAgreesWithBitwise()) return false;
  const Expected want;
  Implementation all[kMaxImplementations];
  size_t n = Runnable(all);
  for (size_t i = 0; i < n; i++)
    if (all[i].fn(0, digits, 9) != 0xE3069283u || !AgreesWithTable(all[i].fn, want)) return false;
  return Crc32c(0, digits, 9) == 0xE3069283u;
}

}  // namespace salvor
