// CRC-32C on x86-64 with the SSE4.2 crc32 instruction and carry-less multiplication.
// These functions carry their own target attributes, so the addon builds with the default flags
// and crc32c.cc calls them only after __builtin_cpu_supports says the CPU has the instructions.
//
// Bit conventions (reflected CRC): bit j of a 32-bit CRC value is the coefficient of x^(31-j).
// crc32(c, d64) computes (c*x^64 + d*x^32) mod P; clmul of two such 32-bit values yields their
// product times x, so clmul(c, x^(8n-33) mod P) fed to crc32 advances c over n zero bytes.
#if defined(__x86_64__)

#include <immintrin.h>

#include <array>
#include <cstring>

#include "crc.h"

namespace salvor {
namespace {

constexpr uint32_t kPoly = 0x82F63B78u;  // Castagnoli, reflected, without the x^32 term

// x^n mod P in the reflected representation, for the compile-time constant tables.
constexpr uint32_t XPowMod(uint64_t n) {
  uint32_t v = 0x80000000u;  // x^0
  for (uint64_t i = 0; i < n; i++) v = (v >> 1) ^ (kPoly & (0u - (v & 1)));
  return v;
}

// Three streams of L = 8*k bytes each. Combining needs x^(8L-33) and x^(16L-33), i.e. x^(64j-33)
// for j = k and j = 2k; the table holds them for every k up to kMaxWords.
constexpr size_t kMaxWords = 512;            // longest stream: 4 KiB
constexpr size_t kMinWords = 6;              // below 3*48 bytes one stream is as fast
constexpr size_t kLongBlock = 3 * 8 * kMaxWords;

struct ShiftTable {
  std::array<uint32_t, 2 * kMaxWords + 1> x64j_33{};
  constexpr ShiftTable() {
    uint32_t v = XPowMod(64 - 33);
    x64j_33[1] = v;
    for (size_t j = 2; j <= 2 * kMaxWords; j++) {
      for (int b = 0; b < 64; b++) v = (v >> 1) ^ (kPoly & (0u - (v & 1)));
      x64j_33[j] = v;
    }
  }
};
constexpr ShiftTable kShift;

// The hardware prefetcher restarts at every 4 KiB page; sector-sized calls gain from a nudge. A prefetch
// past the end of the buffer is harmless (prefetches never fault).
constexpr size_t kPrefetch = 256;

inline uint64_t Load64(const uint8_t* p) {
  uint64_t v;
  memcpy(&v, p, 8);
  return v;
}

// Raw register update (no pre/post inversion), one stream, any alignment.
__attribute__((target("sse4.2"))) uint32_t OneStream(uint32_t c, const uint8_t* p, size_t n) {
  uint64_t c64 = c;
  for (; n >= 8; p += 8, n -= 8) c64 = _mm_crc32_u64(c64, Load64(p));
  c = uint32_t(c64);
  if (n & 4) {
    uint32_t w;
    memcpy(&w, p, 4);
    c = _mm_crc32_u32(c, w);
    p += 4;
  }
  if (n & 2) {
    uint16_t h;
    memcpy(&h, p, 2);
    c = _mm_crc32_u16(c, h);
    p += 2;
  }
  if (n & 1) c = _mm_crc32_u8(c, *p);
  return c;
}

// One block of three streams of 8*words bytes. The first two CRCs are shifted by clmul and folded
// into the last 8 bytes of the third stream, so the combine costs one crc32 and two clmuls.
__attribute__((target("sse4.2,pclmul"))) uint32_t ThreeStreams(uint32_t c, const uint8_t* p, size_t words) {
  const uint8_t* a = p;
  const uint8_t* b = p + 8 * words;
  const uint8_t* d = p + 16 * words;
  uint64_t c0 = c, c1 = 0, c2 = 0;
  size_t i = 0;
  // Whole cache lines, each stream prefetching a few lines ahead within its own stream.
  for (; i + 8 < words; i += 8) {
    _mm_prefetch(reinterpret_cast<const char*>(a + 8 * i + kPrefetch), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(b + 8 * i + kPrefetch), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(d + 8 * i + kPrefetch), _MM_HINT_T0);
    for (size_t k = i; k < i + 8; k++) {
      c0 = _mm_crc32_u64(c0, Load64(a + 8 * k));
      c1 = _mm_crc32_u64(c1, Load64(b + 8 * k));
      c2 = _mm_crc32_u64(c2, Load64(d + 8 * k));
    }
  }
  for (; i + 1 < words; i++) {
    c0 = _mm_crc32_u64(c0, Load64(a + 8 * i));
    c1 = _mm_crc32_u64(c1, Load64(b + 8 * i));
    c2 = _mm_crc32_u64(c2, Load64(d + 8 * i));
  }
  size_t last = 8 * (words - 1);
  c0 = _mm_crc32_u64(c0, Load64(a + last));
  c1 = _mm_crc32_u64(c1, Load64(b + last));
  __m128i far = _mm_clmulepi64_si128(_mm_cvtsi32_si128(int(c0)), _mm_cvtsi32_si128(int(kShift.x64j_33[2 * words])), 0);
  __m128i near = _mm_clmulepi64_si128(_mm_cvtsi32_si128(int(c1)), _mm_cvtsi32_si128(int(kShift.x64j_33[words])), 0);
  uint64_t fold = uint64_t(_mm_cvtsi128_si64(_mm_xor_si128(far, near)));
  return uint32_t(_mm_crc32_u64(c2, Load64(d + last) ^ fold));
}

}  // namespace

uint32_t Crc32cSse42(uint32_t crc, const uint8_t* p, size_t n) {
  uint32_t c = ~crc;
  for (; n >= kLongBlock; p += kLongBlock, n -= kLongBlock) c = ThreeStreams(c, p, kMaxWords);
  // What is left (under 12 KiB) goes in one block as long as fits three equal streams.
  size_t words = n / 24;
  if (words >= kMinWords) {
    c = ThreeStreams(c, p, words);
    p += 24 * words;
    n -= 24 * words;
  }
  return ~OneStream(c, p, n);
}

// AVX-512 VPCLMULQDQ folding: four 512-bit accumulators (256 bytes) fold forward over the input;
// then they fold into one 128-bit remainder, which the crc32 instruction reduces to the CRC.
// Folding a 128-bit lane whose low qword A is followed D bytes later by the lane it joins:
// A*x^(8D+64) + B*x^(8D) == clmul(A, x^(8D+31)) ^ clmul(B, x^(8D-33))   (mod P, with the x factor)
namespace {

constexpr size_t kFoldMin = 256;

struct FoldPair {
  uint64_t low, high;
};
constexpr FoldPair FoldBy(uint64_t bytes) { return {XPowMod(8 * bytes + 31), XPowMod(8 * bytes - 33)}; }

constexpr FoldPair kFold256 = FoldBy(256), kFold192 = FoldBy(192), kFold128 = FoldBy(128), kFold64 = FoldBy(64);
constexpr FoldPair kFold48 = FoldBy(48), kFold32 = FoldBy(32), kFold16 = FoldBy(16);

#define SALVOR_AVX512_TARGET __attribute__((target("avx512f,avx512vl,vpclmulqdq,pclmul,sse4.2")))

SALVOR_AVX512_TARGET inline __m512i Broadcast(FoldPair k) {
  const int64_t lo = int64_t(k.low), hi = int64_t(k.high);
  return _mm512_set_epi64(hi, lo, hi, lo, hi, lo, hi, lo);
}

// x*x^(8D) mod P lane by lane, plus data: the three-way xor is one vpternlogq.
SALVOR_AVX512_TARGET inline __m512i Fold512(__m512i x, __m512i k, __m512i data) {
  __m512i lo = _mm512_clmulepi64_epi128(x, k, 0x00);
  __m512i hi = _mm512_clmulepi64_epi128(x, k, 0x11);
  return _mm512_ternarylogic_epi64(lo, hi, data, 0x96);
}

SALVOR_AVX512_TARGET inline __m128i Fold128(__m128i x, FoldPair k, __m128i data) {
  __m128i kk = _mm_set_epi64x(int64_t(k.high), int64_t(k.low));
  __m128i lo = _mm_clmulepi64_si128(x, kk, 0x00);
  __m128i hi = _mm_clmulepi64_si128(x, kk, 0x11);
  return _mm_ternarylogic_epi64(lo, hi, data, 0x96);
}

}  // namespace

SALVOR_AVX512_TARGET uint32_t Crc32cAvx512(uint32_t crc, const uint8_t* p, size_t n) {
  if (n < kFoldMin) return Crc32cSse42(crc, p, n);
  // The inverted seed xored into the first four bytes is the same as starting the register there.
  __m512i x0 = _mm512_xor_si512(_mm512_loadu_si512(p), _mm512_zextsi128_si512(_mm_cvtsi32_si128(int(~crc))));
  __m512i x1 = _mm512_loadu_si512(p + 64);
  __m512i x2 = _mm512_loadu_si512(p + 128);
  __m512i x3 = _mm512_loadu_si512(p + 192);
  p += 256;
  n -= 256;
  const __m512i k256 = Broadcast(kFold256);
  for (; n >= 256; p += 256, n -= 256) {
    x0 = Fold512(x0, k256, _mm512_loadu_si512(p));
    x1 = Fold512(x1, k256, _mm512_loadu_si512(p + 64));
    x2 = Fold512(x2, k256, _mm512_loadu_si512(p + 128));
    x3 = Fold512(x3, k256, _mm512_loadu_si512(p + 192));
  }
  // Four accumulators into one: each folds by its distance to x3.
  __m512i y = Fold512(x0, Broadcast(kFold192), x3);
  y = Fold512(x1, Broadcast(kFold128), y);
  y = Fold512(x2, Broadcast(kFold64), y);
  const __m512i k64 = Broadcast(kFold64);
  for (; n >= 64; p += 64, n -= 64) y = Fold512(y, k64, _mm512_loadu_si512(p));
  // Four lanes into one. (Masked extracts: GCC 12 warns about the undefined merge source of the others.)
  __m128i v = _mm512_maskz_extracti32x4_epi32(0xF, y, 3);
  v = Fold128(_mm512_maskz_extracti32x4_epi32(0xF, y, 0), kFold48, v);
  v = Fold128(_mm512_maskz_extracti32x4_epi32(0xF, y, 1), kFold32, v);
  v = Fold128(_mm512_maskz_extracti32x4_epi32(0xF, y, 2), kFold16, v);
  for (; n >= 16; p += 16, n -= 16) v = Fold128(v, kFold16, _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  // The remainder is 16 bytes of message as seen from a zero register.
  uint64_t c = _mm_crc32_u64(0, uint64_t(_mm_cvtsi128_si64(v)));
  c = _mm_crc32_u64(c, uint64_t(_mm_extract_epi64(v, 1)));
  return ~OneStream(uint32_t(c), p, n);
}

}  // namespace salvor

#endif  // __x86_64__
