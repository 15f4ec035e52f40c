// Fuzz harness for the page delta decoder (native/pages/delta.cc), under AddressSanitizer and
// UndefinedBehaviorSanitizer. tools/fuzz/build-page-delta-fuzz.sh builds it: with clang as a
// libFuzzer target, otherwise (g++) with the standalone mutation driver at the bottom of this file.
//
// Input layout: byte 0 chooses the mode and page size, the rest is the delta or stream, copied to a
// heap buffer of exactly its size so any read past it is reported.
//   bit 0      0: one page (ApplyPage), 1: a stream (ApplyStream) over a region of 1..8 pages
//   bits 1-3   page size 512 << n
//   bit 4      stream mode: recompute the CRC-32C trailer first, so the record parser is reached
//   bits 5-7   stream mode: pages in the region - 1
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "crc/crc.h"
#include "pages/delta.h"

using namespace salvor::pagedelta;

namespace {

void Check(bool ok, const char* what) {
  if (!ok) {
    fprintf(stderr, "page delta fuzz: %s\n", what);
    abort();
  }
}

void OldContents(uint8_t* p, size_t n, uint32_t salt) {
  for (size_t i = 0; i < n; i++) p[i] = uint8_t((i * 2654435761u + salt) >> 13);
}

void FuzzPage(const uint8_t* data, size_t size, size_t pageSize) {
  std::vector<uint8_t> old(pageSize), page(pageSize);
  OldContents(old.data(), pageSize, uint32_t(size));
  page = old;
  uint8_t* input = static_cast<uint8_t*>(malloc(size ? size : 1));
  memcpy(input, data, size);
  DecodeError err;
  if (ApplyPage(input, size, page.data(), pageSize, 0, &err)) {
    // Whatever decoded must survive a round trip through the encoder.
    PageEncoder encoder(pageSize);
    const Kind kind = encoder.Encode(old.data(), page.data());
    std::vector<uint8_t> again(encoder.Encoded(), encoder.Encoded() + (kind == kFull ? 1 : encoder.EncodedSize()));
    if (kind == kFull) again.insert(again.end(), page.begin(), page.end());
    std::vector<uint8_t> back = old;
    Check(ApplyPage(again.data(), again.size(), back.data(), pageSize, 0, &err), "re-encoded page does not decode");
    Check(back == page, "re-encoded page decodes to something else");
    Check(again.size() <= 1 + pageSize, "encoding larger than a full page");
  } else {
    Check(err.offset <= size, "error offset past the input");
    Check(!err.message.empty(), "error without a message");
  }
  free(input);
}

void FuzzStream(const uint8_t* data, size_t size, size_t pageSize, size_t pages, bool reseal) {
  std::vector<uint8_t> region(pageSize * pages);
  OldContents(region.data(), region.size(), uint32_t(size));
  const std::vector<uint8_t> before = region;
  uint8_t* input = static_cast<uint8_t*>(malloc(size ? size : 1));
  memcpy(input, data, size);
  if (reseal && size >= kStreamHeader + kStreamTrailer) {
    const uint32_t crc = salvor::Crc32c(0, input, size - 4);
    for (int k = 0; k < 4; k++) input[size - 4 + k] = uint8_t(crc >> (8 * k));
  }
  size_t applied = 0;
  DecodeError err;
  if (ApplyStream(region.data(), region.size(), pageSize, input, size, &applied, &err))
    Check(applied <= pages, "more records applied than pages");
  else
    Check(region == before, "a refused stream changed the region");
  free(input);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t mode = data[0];
  const size_t pageSize = size_t(512) << ((mode >> 1) & 7);
  if (mode & 1)
    FuzzStream(data + 1, size - 1, pageSize, 1 + (mode >> 5), (mode & 0x10) != 0);
  else
    FuzzPage(data + 1, size - 1, pageSize);
  return 0;
}

#ifdef SALVOR_FUZZ_STANDALONE
// Without libFuzzer: valid deltas and streams from random pages, mutated, for argv[1] seconds
// (default 10); files named after the seconds are replayed as inputs instead.
#include <chrono>
#include <fstream>
#include <iterator>
#include <random>

namespace {

std::mt19937_64 rng;
size_t Rand(size_t n) { return n ? size_t(rng() % n) : 0; }

std::vector<uint8_t> NewPage(const std::vector<uint8_t>& old) {
  std::vector<uint8_t> now = old;
  switch (Rand(5)) {
    case 0: return now;
    case 1: return std::vector<uint8_t>(old.size(), 0);
    case 2: for (auto& b : now) b = uint8_t(rng()); return now;
    default:
      for (size_t r = 0, runs = 1 + Rand(40); r < runs; r++) {
        const size_t len = 1 + Rand(Rand(4) ? 16 : 300), at = Rand(old.size() - len);
        for (size_t k = at; k < at + len; k++) now[k] = uint8_t(rng());
      }
      return now;
  }
}

std::vector<uint8_t> Mutate(std::vector<uint8_t> b, const std::vector<uint8_t>& other) {
  for (size_t m = 0, count = 1 + Rand(4); m < count; m++) {
    const size_t at = Rand(b.size() + 1);
    switch (Rand(7)) {
      case 0: if (at < b.size()) b[at] ^= uint8_t(1 << Rand(8)); break;
      case 1: if (at < b.size()) b[at] = uint8_t(rng()); break;
      case 2: b.resize(Rand(b.size() + 1)); break;
      case 3: b.insert(b.begin() + long(at), 1 + Rand(4), uint8_t(rng())); break;
      case 4: b.erase(b.begin() + long(at), b.begin() + long(std::min(b.size(), at + 1 + Rand(8)))); break;
      case 5: b.insert(b.begin() + long(at), 3 + Rand(10), 0xff); break;
      default: b.resize(at); b.insert(b.end(), other.begin() + long(Rand(other.size() + 1)), other.end()); break;
    }
  }
  return b;
}

std::vector<uint8_t> EncodeOne(const std::vector<uint8_t>& old, const std::vector<uint8_t>& now) {
  PageEncoder encoder(old.size());
  const Kind kind = encoder.Encode(old.data(), now.data());
  std::vector<uint8_t> out(encoder.Encoded(), encoder.Encoded() + (kind == kFull ? 1 : encoder.EncodedSize()));
  if (kind == kFull) out.insert(out.end(), now.begin(), now.end());
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 2) {
    for (int i = 2; i < argc; i++) {
      std::ifstream f(argv[i], std::ios::binary);
      std::vector<uint8_t> input((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
      LLVMFuzzerTestOneInput(input.data(), input.size());
    }
    return 0;
  }
  const double seconds = argc > 1 ? atof(argv[1]) : 10;
  const uint64_t seed = uint64_t(std::chrono::steady_clock::now().time_since_epoch().count());
  rng.seed(seed);
  fprintf(stderr, "page delta fuzz: %.0f s, seed %llu\n", seconds, static_cast<unsigned long long>(seed));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  uint64_t runs = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    const uint8_t shift = uint8_t(Rand(4) ? Rand(4) : Rand(8));
    const size_t pageSize = size_t(512) << shift, pages = 1 + Rand(8);
    std::vector<uint8_t> old(pageSize * pages);
    for (auto& b : old) b = uint8_t(rng());
    std::vector<uint8_t> a, b;
    const bool stream = Rand(2);
    if (stream) {
      std::vector<uint8_t> now;
      for (size_t p = 0; p < pages; p++) {
        std::vector<uint8_t> page(old.begin() + long(p * pageSize), old.begin() + long((p + 1) * pageSize));
        std::vector<uint8_t> changed = NewPage(page);
        now.insert(now.end(), changed.begin(), changed.end());
      }
      ByteSink sink;
      Check(EncodeStream(old.data(), now.data(), old.size(), pageSize, nullptr, 0, &sink), "out of memory");
      a.assign(sink.data(), sink.data() + sink.size());
      b = a;
    } else {
      std::vector<uint8_t> page(old.begin(), old.begin() + long(pageSize));
      a = EncodeOne(page, NewPage(page));
      b = EncodeOne(page, NewPage(page));
    }
    for (int k = 0; k < 50; k++, runs++) {
      std::vector<uint8_t> input = Mutate(a, b);
      const uint8_t mode = uint8_t((stream ? 1 : 0) | shift << 1 | (Rand(5) ? 0x10 : 0) | (pages - 1) << 5);
      input.insert(input.begin(), mode);
      LLVMFuzzerTestOneInput(input.data(), input.size());
    }
  }
  fprintf(stderr, "page delta fuzz: %llu inputs, no failures\n", static_cast<unsigned long long>(runs));
  return 0;
}
#endif
