// Hash-scan dirty tracking (see hash_scan.h): XXH64 page fingerprints, the scan loop and its thread
// split. The JS functions are in hash_scan_binding.cc.
#include "hash_scan.h"

#include <pthread.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <thread>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "runs.h"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "fingerprints are stored and loaded as little-endian words");

namespace salvor {
namespace {

// XXH64's five primes, from the algorithm's specification.
constexpr uint64_t kP1 = 0x9E3779B185EBCA87ULL;
constexpr uint64_t kP2 = 0xC2B2AE3D27D4EB4FULL;
constexpr uint64_t kP3 = 0x165667B19E3779F9ULL;
constexpr uint64_t kP4 = 0x85EBCA77C2B2AE63ULL;
constexpr uint64_t kP5 = 0x27D4EB2F165667C5ULL;

inline uint64_t Rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }
inline uint64_t Load64(const uint8_t* p) {
  uint64_t v;
  memcpy(&v, p, 8);
  return v;
}
inline uint32_t Load32(const uint8_t* p) {
  uint32_t v;
  memcpy(&v, p, 4);
  return v;
}
inline uint64_t Round(uint64_t acc, uint64_t lane) { return Rotl(acc + lane * kP2, 31) * kP1; }
inline uint64_t Merge(uint64_t acc, uint64_t v) { return (acc ^ Round(0, v)) * kP1 + kP4; }
inline uint64_t Avalanche(uint64_t h) {
  h ^= h >> 33;
  h *= kP2;
  h ^= h >> 29;
  h *= kP3;
  return h ^ (h >> 32);
}
// The four lane accumulators folded into one, as after the last 32-byte stripe.
inline uint64_t Converge(uint64_t v1, uint64_t v2, uint64_t v3, uint64_t v4) {
  uint64_t h = Rotl(v1, 1) + Rotl(v2, 7) + Rotl(v3, 12) + Rotl(v4, 18);
  return Merge(Merge(Merge(Merge(h, v1), v2), v3), v4);
}

// Seed 0, length a multiple of 32 (every page size): stripes, converge, length, avalanche; no tail.
uint64_t HashPageScalar(const uint8_t* p, size_t len) {
  uint64_t v1 = kP1 + kP2, v2 = kP2, v3 = 0, v4 = 0 - kP1;
  for (const uint8_t* end = p + len; p < end; p += 32) {
    v1 = Round(v1, Load64(p));
    v2 = Round(v2, Load64(p + 8));
    v3 = Round(v3, Load64(p + 16));
    v4 = Round(v4, Load64(p + 24));
  }
  return Avalanche(Converge(v1, v2, v3, v4) + len);
}

// Fills out[0..count) with the fingerprints of `count` contiguous pages.
using PageKernel = void (*)(const uint8_t* data, size_t count, size_t pageSize, uint64_t* out);

void HashPagesScalar(const uint8_t* data, size_t count, size_t pageSize, uint64_t* out) {
  for (size_t i = 0; i < count; i++) out[i] = HashPageScalar(data + i * pageSize, pageSize);
}

#if defined(__x86_64__)
// XXH64 is a serial chain per lane, and one page has only four lanes. Hashing eight pages at once
// puts two pages' lanes in each of four 512-bit registers, so the 64-bit multiplies (vpmullq) of
// independent chains overlap; the result is bit-identical to hashing each page alone.
#define SALVOR_AVX512_XXH __attribute__((target("avx512f,avx512dq")))

SALVOR_AVX512_XXH inline __m512i TwoStripes(const uint8_t* a, const uint8_t* b) {
  __m256i lo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a));
  __m256i hi = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b));
  // The all-lanes masked forms avoid GCC's 'undefined' operand (and its false uninitialized warning).
  return _mm512_maskz_inserti64x4(0xFF, _mm512_castsi256_si512(lo), hi, 1);
}

SALVOR_AVX512_XXH inline __m512i RoundX8(__m512i acc, __m512i lanes, __m512i p1, __m512i p2) {
  return _mm512_mullo_epi64(_mm512_maskz_rol_epi64(0xFF, _mm512_add_epi64(acc, _mm512_mullo_epi64(lanes, p2)), 31), p1);
}

SALVOR_AVX512_XXH void HashPagesAvx512(const uint8_t* data, size_t count, size_t pageSize, uint64_t* out) {
  const __m512i p1 = _mm512_set1_epi64(int64_t(kP1)), p2 = _mm512_set1_epi64(int64_t(kP2));
  const __m512i init = _mm512_setr_epi64(int64_t(kP1 + kP2), int64_t(kP2), 0, int64_t(0 - kP1),
                                         int64_t(kP1 + kP2), int64_t(kP2), 0, int64_t(0 - kP1));
  size_t i = 0;
  for (; i + 8 <= count; i += 8) {
    const uint8_t* p = data + i * pageSize;
    const size_t s = pageSize;
    __m512i a0 = init, a1 = init, a2 = init, a3 = init;
    for (size_t o = 0; o < pageSize; o += 32) {
      a0 = RoundX8(a0, TwoStripes(p + o, p + s + o), p1, p2);
      a1 = RoundX8(a1, TwoStripes(p + 2 * s + o, p + 3 * s + o), p1, p2);
      a2 = RoundX8(a2, TwoStripes(p + 4 * s + o, p + 5 * s + o), p1, p2);
      a3 = RoundX8(a3, TwoStripes(p + 6 * s + o, p + 7 * s + o), p1, p2);
    }
    alignas(64) uint64_t v[32];
    _mm512_store_si512(v, a0);
    _mm512_store_si512(v + 8, a1);
    _mm512_store_si512(v + 16, a2);
    _mm512_store_si512(v + 24, a3);
    for (size_t j = 0; j < 8; j++) out[i + j] = Avalanche(Converge(v[4 * j], v[4 * j + 1], v[4 * j + 2], v[4 * j + 3]) + pageSize);
  }
  HashPagesScalar(data + i * pageSize, count - i, pageSize, out + i);
}
#endif

struct Kernel {
  const char* name;
  PageKernel fn;
};

// A kernel is used only if it agrees with the scalar one on pages of several sizes and counts.
bool AgreesWithScalar(PageKernel fn) {
  std::vector<uint8_t> buf(17 * 1024 + 32);  // 17 pages of 1 KiB from offset 32
  uint32_t s = 0x9E3779B9u;
  for (uint8_t& b : buf) b = uint8_t((s = s * 1664525u + 1013904223u) >> 24);
  uint64_t want[34], got[34];
  for (size_t pageSize : {size_t(512), size_t(1024)})
    for (size_t count : {size_t(1), size_t(8), size_t(9), size_t(17)}) {
      HashPagesScalar(buf.data() + 32, count, pageSize, want);
      fn(buf.data() + 32, count, pageSize, got);
      if (memcmp(want, got, count * 8) != 0) return false;
    }
  return true;
}

Kernel Choose() {
  Kernel all[2];
  size_t n = 0;
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") && AgreesWithScalar(HashPagesAvx512))
    all[n++] = {"avx512-8page", HashPagesAvx512};
#endif
  all[n++] = {"scalar", HashPagesScalar};
  // Same convention as the CRC: an environment variable may pick a slower kernel this CPU also runs.
  const char* wanted = getenv("SALVOR_HASH_SCAN_BACKEND");
  if (wanted != nullptr)
    for (size_t i = 0; i < n; i++)
      if (strcmp(all[i].name, wanted) == 0) return all[i];
  return all[0];
}

const Kernel& Selected() {
  static const Kernel chosen = Choose();
  return chosen;
}

// Pages hashed per batch: a batch's fingerprints are compared and stored only after it was read whole.
constexpr size_t kBatch = 16;
// Below this many bytes per thread, starting a thread costs more than it saves.
constexpr size_t kMinChunkBytes = 256 * 1024;

int ScanRangeChunk(const uint8_t* data, size_t count, size_t pageSize, uint8_t* hashes, uint32_t firstIndex,
                   std::vector<uint32_t>* runs) {
  ScanRange(data, count, pageSize, hashes, firstIndex, runs);
  return 0;
}

struct Chunk {
  const uint8_t* data;
  size_t count;
  size_t pageSize;
  uint8_t* hashes;
  uint32_t firstIndex;
  ScanChunkFn scan;
  std::vector<uint32_t> runs;
  int rc;
};

void RunChunk(Chunk* c) { c->rc = c->scan(c->data, c->count, c->pageSize, c->hashes, c->firstIndex, &c->runs); }
void* RunChunkThread(void* arg) {
  RunChunk(static_cast<Chunk*>(arg));
  return nullptr;
}

}  // namespace

uint64_t Xxh64(const uint8_t* p, size_t len, uint64_t seed) {
  const uint8_t* end = p + len;
  uint64_t h;
  if (len >= 32) {
    uint64_t v1 = seed + kP1 + kP2, v2 = seed + kP2, v3 = seed, v4 = seed - kP1;
    for (; end - p >= 32; p += 32) {
      v1 = Round(v1, Load64(p));
      v2 = Round(v2, Load64(p + 8));
      v3 = Round(v3, Load64(p + 16));
      v4 = Round(v4, Load64(p + 24));
    }
    h = Converge(v1, v2, v3, v4);
  } else {
    h = seed + kP5;
  }
  h += len;
  for (; end - p >= 8; p += 8) h = Rotl(h ^ Round(0, Load64(p)), 27) * kP1 + kP4;
  if (end - p >= 4) {
    h = Rotl(h ^ (uint64_t(Load32(p)) * kP1), 23) * kP2 + kP3;
    p += 4;
  }
  for (; p < end; p++) h = Rotl(h ^ (uint64_t(*p) * kP5), 11) * kP1;
  return Avalanche(h);
}

void HashPages(const uint8_t* data, size_t count, size_t pageSize, uint8_t* out) {
  uint64_t fresh[kBatch];
  for (size_t done = 0; done < count; done += kBatch) {
    size_t n = std::min(kBatch, count - done);
    Selected().fn(data + done * pageSize, n, pageSize, fresh);
    memcpy(out + done * 8, fresh, n * 8);
  }
}

void ScanRange(const uint8_t* data, size_t count, size_t pageSize, uint8_t* hashes, uint32_t firstIndex,
               std::vector<uint32_t>* runs) {
  const PageKernel kernel = Selected().fn;
  uint64_t fresh[kBatch];
  for (size_t done = 0; done < count; done += kBatch) {
    size_t n = std::min(kBatch, count - done);
    kernel(data + done * pageSize, n, pageSize, fresh);
    for (size_t j = 0; j < n; j++) {
      uint8_t* slot = hashes + (done + j) * 8;
      if (Load64(slot) == fresh[j]) continue;
      memcpy(slot, &fresh[j], 8);
      AppendRun(runs, firstIndex + uint32_t(done + j), 1);
    }
  }
}

int ScanRegion(const uint8_t* data, size_t pages, size_t pageSize, uint8_t* hashes, unsigned threads,
               std::vector<uint32_t>* runs, ScanChunkFn scan) {
  runs->clear();
  if (scan == nullptr) scan = ScanRangeChunk;
  if (threads == 0) threads = DefaultScanThreads();
  size_t chunks = std::min<size_t>({threads, kMaxScanThreads, std::max<size_t>(1, pages * pageSize / kMinChunkBytes)});
  if (chunks <= 1) return scan(data, pages, pageSize, hashes, 0, runs);

  std::vector<Chunk> work(chunks);
  size_t first = 0;
  for (size_t i = 0; i < chunks; i++) {
    size_t count = pages / chunks + (i < pages % chunks ? 1 : 0);
    work[i] = Chunk{data + first * pageSize, count, pageSize, hashes + first * 8, uint32_t(first), scan, {}, 0};
    first += count;
  }
  // Chunk 0 runs on the calling thread; a chunk whose thread cannot start runs there too, afterwards.
  std::vector<pthread_t> ids(chunks);
  std::vector<bool> started(chunks, false);
  for (size_t i = 1; i < chunks; i++) started[i] = pthread_create(&ids[i], nullptr, RunChunkThread, &work[i]) == 0;
  RunChunk(&work[0]);
  for (size_t i = 1; i < chunks; i++) {
    if (started[i])
      pthread_join(ids[i], nullptr);
    else
      RunChunk(&work[i]);
  }
  int rc = 0;
  for (const Chunk& c : work) {
    for (size_t r = 0; r + 1 < c.runs.size(); r += 2) AppendRun(runs, c.runs[r], c.runs[r + 1]);
    if (rc == 0) rc = c.rc;
  }
  return rc;
}

unsigned DefaultScanThreads() {
  unsigned hw = std::thread::hardware_concurrency();
  return std::max(1u, std::min(hw, 4u));
}

const char* HashScanBackend() { return Selected().name; }

}  // namespace salvor
