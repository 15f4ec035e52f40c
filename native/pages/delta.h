// Page delta codec (docs/formats/page-delta.md): one page encoded against the version a peer holds,
// and the checksummed batch stream that carries many such pages. Plain C++ with no Node-API, so the
// fuzz harness in tools/fuzz/ links the same code the addon runs.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace salvor {
namespace pagedelta {

constexpr uint8_t kVersion = 1;
// Low nibble of the kind byte; the high nibble is kVersion.
enum Kind : uint8_t { kUnchanged = 0, kZero = 1, kFull = 2, kRuns = 3 };

constexpr size_t kMinPageSize = 512;
constexpr size_t kMaxPageSize = 65536;
constexpr size_t kStreamHeader = 12;  // magic, version, log2(page size), reserved, record count
constexpr size_t kStreamTrailer = 4;  // CRC-32C of everything before it
constexpr size_t kMaxUlebBytes = 10;

bool ValidPageSize(size_t pageSize);

// What went wrong while decoding, and where: `offset` counts bytes from the start of the input.
struct DecodeError {
  size_t offset = 0;
  std::string message;
};

// Prefetches a page (or the same span of two) a cache line per Step(), so memory works while the
// CPU finds or applies runs: a whole page of prefetches at once stalls on full miss queues.
class LinePrefetcher {
 public:
  void Target(const uint8_t* a, const uint8_t* b, size_t len) {
    Finish();
    a_ = a;
    b_ = b;
    off_ = 0;
    len_ = len;
  }
  void Step() {
    if (off_ < len_) Touch(off_), off_ += 64;
  }
  void Finish() {
    for (; off_ < len_; off_ += 64) Touch(off_);
  }

 private:
  void Touch(size_t off) {
    __builtin_prefetch(a_ + off);
    if (b_) __builtin_prefetch(b_ + off);
  }
  const uint8_t* a_ = nullptr;
  const uint8_t* b_ = nullptr;
  size_t off_ = 0, len_ = 0;
};

// Reused across the pages of one call: the page's byte-difference bitmap and the runs being built.
class PageEncoder {
 public:
  explicit PageEncoder(size_t pageSize);
  // Encodes newPage against oldPage. For kFull only the kind byte is in Encoded(); the caller
  // appends the page itself (saves a copy). Returns the kind chosen.
  Kind Encode(const uint8_t* oldPage, const uint8_t* newPage);
  // The page pair the caller will encode later: fetched a line per run while this one is encoded.
  void FetchLater(const uint8_t* oldPage, const uint8_t* newPage) { fetch_.Target(oldPage, newPage, pageSize_); }
  const uint8_t* Encoded() const { return out_.data(); }
  size_t EncodedSize() const { return size_; }  // kFull: 1 + pageSize, though only 1 byte is held
  size_t pageSize() const { return pageSize_; }

 private:
  bool EncodeRuns(const uint8_t* newPage);
  size_t pageSize_;
  size_t size_ = 0;
  std::vector<uint64_t> masks_;
  std::vector<uint32_t> bounds_;  // run starts and ends, from the bitmap
  std::vector<uint8_t> out_;
  LinePrefetcher fetch_;
};

// Validates one encoded page (kind byte + payload, exactly `len` bytes) for a page of `pageSize`
// bytes; with `page` non-null also applies it there. `base` is added to error offsets.
bool ApplyPage(const uint8_t* enc, size_t len, uint8_t* page, size_t pageSize, size_t base, DecodeError* err);

// A growable malloc'd byte buffer whose storage can be handed to a Node Buffer without a copy.
class ByteSink {
 public:
  ~ByteSink();
  bool Reserve(size_t more);  // false when out of memory
  uint8_t* End() { return data_ + size_; }
  void Advance(size_t n) { size_ += n; }
  uint8_t* data() { return data_; }
  size_t size() const { return size_; }
  uint8_t* Release();  // shrinks to size and gives up ownership (free() it)

 private:
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
  size_t cap_ = 0;
};

// Encodes the changed pages of a region as one batch stream: every page when `indexes` is null,
// else the listed ones (strictly increasing, each below the page count). False only when out of memory.
bool EncodeStream(const uint8_t* oldPages, const uint8_t* newPages, size_t len, size_t pageSize,
                  const uint32_t* indexes, size_t indexCount, ByteSink* sink);

// Checks a whole stream against a region of `len` bytes, then (only if all of it is valid) applies
// it in place. Returns false with `err` set, the region untouched, when any part is malformed.
bool ApplyStream(uint8_t* pages, size_t len, size_t pageSize, const uint8_t* stream, size_t streamLen,
                 size_t* applied, DecodeError* err);

// Which byte-comparison path this CPU uses ("avx512vbmi2", "avx512bw", "avx2", "sse2", "portable").
// SALVOR_PAGE_DELTA_SIMD=<name> picks a slower one the CPU also runs, for tests and benchmarks.
const char* CompareBackend();

}  // namespace pagedelta
}  // namespace salvor
