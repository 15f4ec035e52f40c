// Page delta codec and batch stream (docs/formats/page-delta.md). The encoder builds a difference
// bitmap per page with SIMD (delta_compare.cc), then walks it 64 bytes per word to find runs. The
// decoder checks every length against both the input and the page before touching memory.
#include "delta.h"

#include <cstdlib>
#include <cstring>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "../crc/crc.h"
#include "delta_compare.h"

namespace salvor {
namespace pagedelta {
namespace {

// Gaps this short cost no more as inline bytes than as a new (unchanged, changed) length pair.
constexpr size_t kMergeGap = 2;
// Short changed runs are copied as one 16-byte block; the encoder's buffer has room for the overshoot.
constexpr size_t kCopyBlock = 16;
constexpr uint8_t kMagic[4] = {'S', 'L', 'P', 'D'};
// How far ahead pages are fetched: the hardware prefetcher stops at each 4 KiB boundary, and while
// runs are found or applied memory would otherwise sit idle.
constexpr size_t kEncodeFetchPages = 2;
constexpr size_t kApplyFetchRecords = 4;

inline uint8_t KindByte(Kind k) { return uint8_t(kVersion << 4 | k); }

inline size_t UlebSize(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) v >>= 7, n++;
  return n;
}

inline uint8_t* PutUleb(uint8_t* p, uint64_t v) {
  while (v >= 0x80) *p++ = uint8_t(v | 0x80), v >>= 7;
  *p++ = uint8_t(v);
  return p;
}

// A length below 2^21 (every run length in a page) without branches: gaps straddle 128 about as
// often as not, so a loop would mispredict. Stores 4 bytes; the caller has room for the extra one.
inline uint8_t* PutRunLength(uint8_t* p, uint32_t v) {
  const uint32_t two = v >= 0x80, three = v >= 0x4000;
  const uint32_t x = (v & 0x7f) | two << 7 | (v >> 7 & 0x7f) << 8 | three << 15 | (v >> 14) << 16;
  memcpy(p, &x, 4);
  return p + 1 + two + three;
}

inline uint32_t LoadLe32(const uint8_t* p) {
  return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
}

inline void StoreLe32(uint8_t* p, uint32_t v) {
  for (int k = 0; k < 4; k++) p[k] = uint8_t(v >> (8 * k));
}

bool Fail(DecodeError* err, size_t offset, std::string message) {
  err->offset = offset;
  err->message = std::move(message);
  return false;
}

std::string Num(uint64_t v) { return std::to_string(v); }

// One ULEB128 from p[*i .. end): at most 10 bytes, value below 2^64. `base` offsets the error.
bool GetUlebSlow(const uint8_t* p, size_t end, size_t* i, uint64_t* out, size_t base, DecodeError* err,
                 const char* what) {
  size_t at = *i;
  if (at < end && p[at] < 0x80) {
    *out = p[at];
    *i = at + 1;
    return true;
  }
  uint64_t v = 0;
  for (size_t k = 0; k < kMaxUlebBytes; k++) {
    if (at + k >= end) return Fail(err, base + at, std::string("truncated ULEB128 ") + what);
    uint8_t b = p[at + k];
    if (k == kMaxUlebBytes - 1) {
      if (b & 0x80) return Fail(err, base + at, std::string("ULEB128 ") + what + " longer than 10 bytes");
      if (b > 1) return Fail(err, base + at, std::string("ULEB128 ") + what + " overflows 64 bits");
    }
    v |= uint64_t(b & 0x7f) << (7 * k);
    if (!(b & 0x80)) {
      *out = v;
      *i = at + k + 1;
      return true;
    }
  }
  return false;  // not reached: the last byte either ends the value or fails above
}

// The common case (1 to 3 bytes, 4 readable) decoded without branches; anything else, and every
// error, goes through GetUlebSlow.
inline bool GetUleb(const uint8_t* p, size_t end, size_t* i, uint64_t* out, size_t base, DecodeError* err,
                    const char* what) {
  const size_t at = *i;
  if (__builtin_expect(at < end && end - at >= 4, 1)) {
    uint32_t x;
    memcpy(&x, p + at, 4);
    const uint32_t c0 = x >> 7 & 1, c1 = x >> 15 & c0, c2 = x >> 23 & c1;
    if (__builtin_expect(!c2, 1)) {
      const uint32_t m1 = 0u - c0, m2 = 0u - c1;
      *out = (x & 0x7f) | (x >> 1 & 0x3f80 & m1) | (x >> 2 & 0x1fc000 & m2);
      *i = at + 1 + c0 + c1;
      return true;
    }
  }
  return GetUlebSlow(p, end, i, out, base, err, what);
}

#if defined(__x86_64__)
// Copies a changed run of up to 16 bytes as one 16-byte read-modify-write, keeping the bytes past
// the run: no branch on the length, where a small memcpy would take one per size class.
alignas(16) constexpr uint8_t kBlendMask[32] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                                0xff, 0xff, 0xff, 0xff, 0xff};
inline void CopyRun(uint8_t* dst, size_t dstRoom, const uint8_t* src, size_t srcRoom, size_t c) {
  if (c <= 16 && dstRoom >= 16 && srcRoom >= 16) {
    const __m128i keep = _mm_loadu_si128(reinterpret_cast<const __m128i*>(kBlendMask + 16 - c));
    const __m128i in = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src));
    const __m128i old = _mm_loadu_si128(reinterpret_cast<const __m128i*>(dst));
    const __m128i merged = _mm_or_si128(_mm_and_si128(keep, in), _mm_andnot_si128(keep, old));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst), merged);
  } else {
    memcpy(dst, src, c);
  }
}
#else
inline void CopyRun(uint8_t* dst, size_t, const uint8_t* src, size_t, size_t c) { memcpy(dst, src, c); }
#endif

bool ApplyRuns(const uint8_t* enc, size_t len, uint8_t* page, size_t n, size_t base, DecodeError* err,
               LinePrefetcher* fetch) {
  if (len == 1) return Fail(err, base + 1, "runs page with no runs");
  size_t i = 1, pos = 0;
  while (i < len) {
    size_t at = i;
    uint64_t u, c;
    if (!GetUleb(enc, len, &i, &u, base, err, "unchanged length")) return false;
    if (u > n - pos)
      return Fail(err, base + at, "unchanged run of " + Num(u) + " bytes at page offset " + Num(pos) +
                                      " passes the page end (" + Num(n) + ")");
    pos += size_t(u);
    at = i;
    if (!GetUleb(enc, len, &i, &c, base, err, "changed length")) return false;
    if (c == 0) return Fail(err, base + at, "changed run of 0 bytes");
    if (c > n - pos)
      return Fail(err, base + at, "changed run of " + Num(c) + " bytes at page offset " + Num(pos) +
                                      " passes the page end (" + Num(n) + ")");
    if (c > len - i)
      return Fail(err, base + len, "changed run truncated: needs " + Num(c) + " bytes, " + Num(len - i) + " left");
    if (page) {
      CopyRun(page + pos, n - pos, enc + i, len - i, size_t(c));
      if (fetch) fetch->Step();
    }
    i += size_t(c);
    pos += size_t(c);
  }
  return true;
}

// One encoded page; `fetch` (may be null) is stepped once per run applied.
bool ApplyEncoded(const uint8_t* enc, size_t len, uint8_t* page, size_t pageSize, size_t base, DecodeError* err,
                  LinePrefetcher* fetch) {
  if (len == 0) return Fail(err, base, "empty page encoding (no kind byte)");
  if ((enc[0] >> 4) != kVersion)
    return Fail(err, base, "unknown page delta version " + Num(enc[0] >> 4) + " (kind byte " + Num(enc[0]) + ")");
  switch (enc[0] & 15) {
    case kUnchanged:
      if (len != 1) return Fail(err, base + 1, Num(len - 1) + " trailing bytes after an unchanged-page kind byte");
      return true;
    case kZero:
      if (len != 1) return Fail(err, base + 1, Num(len - 1) + " trailing bytes after a zero-page kind byte");
      if (page) memset(page, 0, pageSize);
      return true;
    case kFull:
      if (len - 1 < pageSize)
        return Fail(err, base + len,
                    "full page truncated or for a smaller page: " + Num(len - 1) + " bytes, page size " + Num(pageSize));
      if (len - 1 > pageSize)
        return Fail(err, base + 1 + pageSize, "full page longer than the page size " + Num(pageSize) + ": " +
                                                  Num(len - 1) + " bytes");
      if (page) memcpy(page, enc + 1, pageSize);
      return true;
    case kRuns:
      return ApplyRuns(enc, len, page, pageSize, base, err, fetch);
    default:
      return Fail(err, base, "unknown page delta kind " + Num(enc[0] & 15));
  }
}

// Checks the records of a stream whose header and checksum are good; applies them when pages != null.
bool WalkRecords(const uint8_t* s, size_t end, size_t n, size_t pageCount, uint32_t count, uint8_t* pages,
                 size_t* applied, DecodeError* err) {
  size_t i = kStreamHeader;
  uint64_t next = 0;  // lowest page index the next record may carry
  // While applying, a second cursor runs a few records ahead and fetches the pages they will write
  // (their lines are scattered, so the hardware prefetcher would not), a line per run applied.
  LinePrefetcher fetch;
  size_t ahead = kStreamHeader;
  DecodeError ignored;
  auto fetchAhead = [&]() {
    uint64_t index, len;
    if (ahead >= end || !GetUleb(s, end, &ahead, &index, 0, &ignored, "") || index >= pageCount ||
        !GetUleb(s, end, &ahead, &len, 0, &ignored, "") || len > end - ahead) {
      ahead = end;
      fetch.Finish();
      return;
    }
    fetch.Target(pages + size_t(index) * n, nullptr, n);
    ahead += size_t(len);
  };
  if (pages)
    for (size_t k = 0; k < kApplyFetchRecords; k++) fetchAhead();
  for (uint32_t r = 0; r < count; r++) {
    if (pages) fetchAhead();
    if (i >= end) return Fail(err, i, "stream ends after " + Num(r) + " of " + Num(count) + " records");
    size_t at = i;
    uint64_t index, len;
    if (!GetUleb(s, end, &i, &index, 0, err, "page index")) return false;
    if (index >= pageCount)
      return Fail(err, at, "page index " + Num(index) + " past the end of the region (" + Num(pageCount) + " pages)");
    if (index < next) return Fail(err, at, "page index " + Num(index) + " not above the previous record's");
    next = index + 1;
    at = i;
    if (!GetUleb(s, end, &i, &len, 0, err, "record length")) return false;
    if (len > end - i)
      return Fail(err, at, "record length " + Num(len) + " passes the end of the records (" + Num(end - i) + " left)");
    uint8_t* page = pages ? pages + size_t(index) * n : nullptr;
    if (!ApplyEncoded(s + i, size_t(len), page, n, i, err, pages ? &fetch : nullptr)) return false;
    i += size_t(len);
  }
  if (i != end) return Fail(err, i, Num(end - i) + " trailing bytes after the last of " + Num(count) + " records");
  *applied = count;
  return true;
}

}  // namespace

bool ValidPageSize(size_t pageSize) {
  return pageSize >= kMinPageSize && pageSize <= kMaxPageSize && (pageSize & (pageSize - 1)) == 0;
}

PageEncoder::PageEncoder(size_t pageSize)
    : pageSize_(pageSize), masks_(pageSize / 64), bounds_(pageSize + 64), out_(1 + pageSize + kCopyBlock) {}

Kind PageEncoder::Encode(const uint8_t* oldPage, const uint8_t* newPage) {
  if (!DiffMasks()(oldPage, newPage, pageSize_, masks_.data())) {
    out_[0] = KindByte(kUnchanged);
    size_ = 1;
    return kUnchanged;
  }
  // All bytes equal their neighbour and the first is zero: a zero page (exits at the first nonzero byte).
  if (newPage[0] == 0 && memcmp(newPage, newPage + 1, pageSize_ - 1) == 0) {
    out_[0] = KindByte(kZero);
    size_ = 1;
    return kZero;
  }
  if (EncodeRuns(newPage)) return kRuns;
  out_[0] = KindByte(kFull);
  size_ = 1 + pageSize_;
  return kFull;
}

// Runs from the bitmap; false as soon as they would take pageSize bytes or more (a full page is smaller).
bool PageEncoder::EncodeRuns(const uint8_t* newPage) {
  const uint32_t* b = bounds_.data();
  const size_t count = RunBoundaries()(masks_.data(), masks_.size(), bounds_.data()), end = pageSize_;
  uint8_t* const start = out_.data() + 1;
  uint8_t* w = start;
  size_t prevEnd = 0;
  for (size_t r = 0; r < count;) {
    const size_t p = b[r];
    size_t e = b[r + 1];
    for (r += 2; r < count && b[r] - e <= kMergeGap; r += 2) e = b[r + 1];
    const size_t u = p - prevEnd, c = e - p, used = size_t(w - start);
    if (used + c + 6 >= end && used + UlebSize(u) + UlebSize(c) + c >= end) return false;
    w = PutRunLength(PutRunLength(w, uint32_t(u)), uint32_t(c));
    if (c <= kCopyBlock && p + kCopyBlock <= end)
      memcpy(w, newPage + p, kCopyBlock);
    else
      memcpy(w, newPage + p, c);
    w += c;
    prevEnd = e;
    fetch_.Step();
  }
  out_[0] = KindByte(kRuns);
  size_ = 1 + size_t(w - start);
  return true;
}

bool ApplyPage(const uint8_t* enc, size_t len, uint8_t* page, size_t pageSize, size_t base, DecodeError* err) {
  return ApplyEncoded(enc, len, page, pageSize, base, err, nullptr);
}

ByteSink::~ByteSink() { free(data_); }

bool ByteSink::Reserve(size_t more) {
  if (cap_ - size_ >= more) return true;
  size_t cap = cap_ ? cap_ * 2 : size_t(64) << 10;
  if (cap < size_ + more) cap = size_ + more;
  void* grown = realloc(data_, cap);
  if (!grown) return false;
  data_ = static_cast<uint8_t*>(grown);
  cap_ = cap;
  return true;
}

uint8_t* ByteSink::Release() {
  void* shrunk = realloc(data_, size_ ? size_ : 1);
  uint8_t* out = shrunk ? static_cast<uint8_t*>(shrunk) : data_;
  data_ = nullptr;
  size_ = cap_ = 0;
  return out;
}

bool EncodeStream(const uint8_t* oldPages, const uint8_t* newPages, size_t len, size_t pageSize,
                  const uint32_t* indexes, size_t indexCount, ByteSink* sink) {
  const size_t pageCount = len / pageSize;
  // A first guess of 1/16 of the region; the sink doubles when a busier region needs more.
  if (!sink->Reserve(kStreamHeader + kStreamTrailer + len / 16)) return false;
  uint8_t* h = sink->End();
  memcpy(h, kMagic, 4);
  h[4] = kVersion;
  h[5] = uint8_t(__builtin_ctzll(pageSize));
  h[6] = h[7] = 0;
  sink->Advance(kStreamHeader);
  PageEncoder encoder(pageSize);
  uint32_t records = 0;
  const size_t total = indexes ? indexCount : pageCount;
  for (size_t k = 0; k < total; k++) {
    const size_t index = indexes ? indexes[k] : k;
    if (k + kEncodeFetchPages < total) {
      const size_t ahead = (indexes ? indexes[k + kEncodeFetchPages] : k + kEncodeFetchPages) * pageSize;
      encoder.FetchLater(oldPages + ahead, newPages + ahead);
    }
    const uint8_t* newPage = newPages + index * pageSize;
    const Kind kind = encoder.Encode(oldPages + index * pageSize, newPage);
    if (kind == kUnchanged) continue;
    const size_t size = encoder.EncodedSize();
    if (!sink->Reserve(5 + 3 + size + kStreamTrailer)) return false;
    uint8_t* w = PutUleb(PutUleb(sink->End(), index), size);
    if (kind == kFull) {
      *w++ = KindByte(kFull);
      memcpy(w, newPage, pageSize);
    } else {
      memcpy(w, encoder.Encoded(), size);
    }
    sink->Advance(size_t(w - sink->End()) + (kind == kFull ? pageSize : size));
    records++;
  }
  StoreLe32(sink->data() + 8, records);
  StoreLe32(sink->End(), Crc32c(0, sink->data(), sink->size()));
  sink->Advance(kStreamTrailer);
  return true;
}

bool ApplyStream(uint8_t* pages, size_t len, size_t pageSize, const uint8_t* s, size_t slen, size_t* applied,
                 DecodeError* err) {
  if (slen < kStreamHeader + kStreamTrailer)
    return Fail(err, slen, "stream of " + Num(slen) + " bytes is shorter than its header and checksum (16 bytes)");
  if (memcmp(s, kMagic, 4) != 0) return Fail(err, 0, "not a page delta stream (bad magic)");
  if (s[4] != kVersion) return Fail(err, 4, "unknown page delta stream version " + Num(s[4]));
  if (s[5] < 9 || s[5] > 16) return Fail(err, 5, "page size exponent " + Num(s[5]) + " outside 9..16");
  if ((size_t(1) << s[5]) != pageSize)
    return Fail(err, 5, "stream is for " + Num(size_t(1) << s[5]) + "-byte pages, the region has " + Num(pageSize) +
                            "-byte pages");
  if (s[6] != 0 || s[7] != 0) return Fail(err, 6, "reserved header bytes are not zero");
  const size_t end = slen - kStreamTrailer;
  const uint32_t stored = LoadLe32(s + end), computed = Crc32c(0, s, end);
  if (stored != computed)
    return Fail(err, end, "checksum mismatch (stream says " + Num(stored) + ", content gives " + Num(computed) + ")");
  const uint32_t count = LoadLe32(s + 8);
  // Validate everything first so a malformed stream never leaves the region half-applied.
  if (!WalkRecords(s, end, pageSize, len / pageSize, count, nullptr, applied, err)) return false;
  return WalkRecords(s, end, pageSize, len / pageSize, count, pages, applied, err);
}

}  // namespace pagedelta
}  // namespace salvor
