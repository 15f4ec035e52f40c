// Difference bitmaps, 64 bytes per mask word: AVX-512BW compares 64 bytes in one instruction, AVX2
// and SSE2 gather movemask results, NEON (every aarch64 CPU has it) narrows compare results with
// pairwise adds, and the portable path folds 8 bytes at a time with integer arithmetic. The x86 functions carry target attributes, so the addon builds with default flags and
// only calls them after __builtin_cpu_supports agrees.
#include <cstdlib>
#include <cstring>

#include "delta.h"
#include "delta_compare.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif
#if defined(__aarch64__)
#include <arm_neon.h>
#endif

namespace salvor {
namespace pagedelta {
namespace {

// One bit per byte of x (bit k for byte k): set when the byte is nonzero.
inline uint64_t NonzeroBytes8(uint64_t x) {
  constexpr uint64_t kLow7 = 0x7f7f7f7f7f7f7f7fULL;
  uint64_t high = (((x & kLow7) + kLow7) | x) & ~kLow7;  // high bit of each nonzero byte
  return ((high >> 7) * 0x0102040810204080ULL) >> 56;     // gather the 8 high bits into one byte
}

uint64_t DiffMasksPortable(const uint8_t* a, const uint8_t* b, size_t n, uint64_t* masks) {
  uint64_t any = 0;
  for (size_t off = 0; off < n; off += 64) {
    uint64_t m = 0;
    for (int k = 0; k < 8; k++) {
      uint64_t x, y;
      memcpy(&x, a + off + 8 * k, 8);
      memcpy(&y, b + off + 8 * k, 8);
      m |= NonzeroBytes8(x ^ y) << (8 * k);
    }
    masks[off / 64] = m;
    any |= m;
  }
  return any;
}

#if defined(__x86_64__)
__attribute__((target("sse2"))) uint64_t DiffMasksSse2(const uint8_t* a, const uint8_t* b, size_t n, uint64_t* masks) {
  uint64_t any = 0;
  for (size_t off = 0; off < n; off += 64) {
    uint64_t eq = 0;
    for (int k = 0; k < 4; k++) {
      __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(a + off + 16 * k));
      __m128i y = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b + off + 16 * k));
      eq |= uint64_t(uint32_t(_mm_movemask_epi8(_mm_cmpeq_epi8(x, y)))) << (16 * k);
    }
    masks[off / 64] = ~eq;
    any |= ~eq;
  }
  return any;
}

__attribute__((target("avx2"))) uint64_t DiffMasksAvx2(const uint8_t* a, const uint8_t* b, size_t n, uint64_t* masks) {
  uint64_t any = 0;
  for (size_t off = 0; off < n; off += 64) {
    __m256i x0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + off));
    __m256i y0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + off));
    __m256i x1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + off + 32));
    __m256i y1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + off + 32));
    uint64_t lo = uint32_t(_mm256_movemask_epi8(_mm256_cmpeq_epi8(x0, y0)));
    uint64_t hi = uint32_t(_mm256_movemask_epi8(_mm256_cmpeq_epi8(x1, y1)));
    uint64_t m = ~(lo | hi << 32);
    masks[off / 64] = m;
    any |= m;
  }
  return any;
}

__attribute__((target("avx512f,avx512bw"))) uint64_t DiffMasksAvx512(const uint8_t* a, const uint8_t* b, size_t n,
                                                                    uint64_t* masks) {
  uint64_t any = 0;
  for (size_t off = 0; off < n; off += 64) {
    __m512i x = _mm512_loadu_si512(a + off);
    __m512i y = _mm512_loadu_si512(b + off);
    uint64_t m = _mm512_cmpneq_epi8_mask(x, y);
    masks[off / 64] = m;
    any |= m;
  }
  return any;
}
#endif

#if defined(__aarch64__)
// NEON has no movemask: each differing byte (0xFF from vtst) keeps its bit of 1,2,4,...,128, and three
// rounds of pairwise adds fold 64 such bytes into 8, one per 8 input bytes, in input order.
uint64_t DiffMasksNeon(const uint8_t* a, const uint8_t* b, size_t n, uint64_t* masks) {
  static const uint8_t kBitsInit[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
  const uint8x16_t bits = vld1q_u8(kBitsInit);
  uint64_t any = 0;
  for (size_t off = 0; off < n; off += 64) {
    uint8x16_t d[4];
    for (int k = 0; k < 4; k++) {
      uint8x16_t x = veorq_u8(vld1q_u8(a + off + 16 * k), vld1q_u8(b + off + 16 * k));
      d[k] = vandq_u8(vtstq_u8(x, x), bits);
    }
    uint8x16_t s = vpaddq_u8(vpaddq_u8(d[0], d[1]), vpaddq_u8(d[2], d[3]));
    s = vpaddq_u8(s, s);
    const uint64_t m = vgetq_lane_u64(vreinterpretq_u64_u8(s), 0);
    masks[off / 64] = m;
    any |= m;
  }
  return any;
}
#endif

// Four positions are written per word whether or not they exist, so the loop only branches on words
// with more than four transitions (two short runs). Compiled twice: the x86 copy gets the popcnt and
// tzcnt instructions.
#define SALVOR_RUN_BOUNDARIES_BODY                                        \
  uint32_t* w = out;                                                      \
  uint64_t carry = 0;                                                     \
  for (size_t k = 0; k < words; k++) {                                    \
    const uint64_t x = masks[k];                                          \
    uint64_t t = x ^ (x << 1 | carry);                                    \
    carry = x >> 63;                                                      \
    const uint32_t base = uint32_t(k * 64);                               \
    const size_t count = size_t(__builtin_popcountll(t));                 \
    for (int j = 0; j < 4; j++) {                                         \
      w[j] = base + uint32_t(__builtin_ctzll(t | uint64_t(1) << 63));     \
      t &= t - 1;                                                         \
    }                                                                     \
    for (size_t j = 4; j < count; j++) {                                  \
      w[j] = base + uint32_t(__builtin_ctzll(t));                         \
      t &= t - 1;                                                         \
    }                                                                     \
    w += count;                                                           \
  }                                                                       \
  if (carry) *w++ = uint32_t(words * 64);                                 \
  return size_t(w - out);

size_t RunBoundariesPortable(const uint64_t* masks, size_t words, uint32_t* out) { SALVOR_RUN_BOUNDARIES_BODY }

#if defined(__x86_64__)
__attribute__((target("popcnt,bmi"))) size_t RunBoundariesBmi(const uint64_t* masks, size_t words, uint32_t* out) {
  SALVOR_RUN_BOUNDARIES_BODY
}
#endif
#undef SALVOR_RUN_BOUNDARIES_BODY

#if defined(__x86_64__)
// GCC 12 warns inside its own vpmovzxbd intrinsic (an undefined pass-through operand it never reads).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
// vpcompressb packs the byte positions of a word's transitions into one register, so each word
// costs a few instructions however many runs it holds.
__attribute__((target("avx512f,avx512bw,avx512vbmi2,popcnt"))) size_t RunBoundariesVbmi2(const uint64_t* masks,
                                                                                      size_t words, uint32_t* out) {
  const __m512i iota = _mm512_set_epi8(63, 62, 61, 60, 59, 58, 57, 56, 55, 54, 53, 52, 51, 50, 49, 48, 47, 46, 45,
                                       44, 43, 42, 41, 40, 39, 38, 37, 36, 35, 34, 33, 32, 31, 30, 29, 28, 27, 26, 25,
                                       24, 23, 22, 21, 20, 19, 18, 17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3,
                                       2, 1, 0);
  uint32_t* w = out;
  uint64_t carry = 0;
  for (size_t k = 0; k < words; k++) {
    const uint64_t x = masks[k];
    const uint64_t t = x ^ (x << 1 | carry);
    carry = x >> 63;
    const __m512i packed = _mm512_maskz_compress_epi8(t, iota);
    const __m512i base = _mm512_set1_epi32(int(k * 64));
    const size_t count = size_t(__builtin_popcountll(t));
    _mm512_storeu_si512(w, _mm512_add_epi32(_mm512_cvtepu8_epi32(_mm512_castsi512_si128(packed)), base));
    if (count > 16) {
      _mm512_storeu_si512(w + 16, _mm512_add_epi32(_mm512_cvtepu8_epi32(_mm512_extracti32x4_epi32(packed, 1)), base));
      _mm512_storeu_si512(w + 32, _mm512_add_epi32(_mm512_cvtepu8_epi32(_mm512_extracti32x4_epi32(packed, 2)), base));
      _mm512_storeu_si512(w + 48, _mm512_add_epi32(_mm512_cvtepu8_epi32(_mm512_extracti32x4_epi32(packed, 3)), base));
    }
    w += count;
  }
  if (carry) *w++ = uint32_t(words * 64);
  return size_t(w - out);
}
#pragma GCC diagnostic pop
#endif

struct Backend {
  const char* name;
  DiffMaskFn diff;
  BoundaryFn boundaries;
  bool supported;
};

// Fastest first; SALVOR_PAGE_DELTA_SIMD may name a slower one this CPU also runs.
Backend Choose() {
#if defined(__x86_64__)
  __builtin_cpu_init();
  const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw");
  const bool bmi = __builtin_cpu_supports("popcnt") && __builtin_cpu_supports("bmi");
  const Backend all[] = {
      {"avx512vbmi2", DiffMasksAvx512, RunBoundariesVbmi2, avx512 && __builtin_cpu_supports("avx512vbmi2")},
      {"avx512bw", DiffMasksAvx512, RunBoundariesBmi, avx512 && bmi},
      {"avx2", DiffMasksAvx2, RunBoundariesBmi, __builtin_cpu_supports("avx2") && bmi},
      {"sse2", DiffMasksSse2, RunBoundariesPortable, true},
      {"portable", DiffMasksPortable, RunBoundariesPortable, true},
  };
#elif defined(__aarch64__)
  const Backend all[] = {
      {"neon", DiffMasksNeon, RunBoundariesPortable, true},
      {"portable", DiffMasksPortable, RunBoundariesPortable, true},
  };
#else
  const Backend all[] = {{"portable", DiffMasksPortable, RunBoundariesPortable, true}};
#endif
  const char* wanted = getenv("SALVOR_PAGE_DELTA_SIMD");
  if (wanted)
    for (const Backend& b : all)
      if (b.supported && strcmp(b.name, wanted) == 0) return b;
  for (const Backend& b : all)
    if (b.supported) return b;
  return all[sizeof(all) / sizeof(all[0]) - 1];
}

const Backend& Chosen() {
  static const Backend chosen = Choose();
  return chosen;
}

}  // namespace

DiffMaskFn DiffMasks() { return Chosen().diff; }
BoundaryFn RunBoundaries() { return Chosen().boundaries; }
const char* CompareBackend() { return Chosen().name; }

}  // namespace pagedelta
}  // namespace salvor
