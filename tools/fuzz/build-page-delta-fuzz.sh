#!/bin/sh
# Builds the page delta fuzz harness with AddressSanitizer and UndefinedBehaviorSanitizer into
# build/fuzz/. With clang: a libFuzzer target (run: build/fuzz/page_delta_fuzz -max_total_time=60).
# Without clang: g++ and the harness's own mutation driver (run: build/fuzz/page_delta_fuzz 60).
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
out="$root/build/fuzz"
mkdir -p "$out"
# Every CRC source except the Node-API binding: the stream checksum needs Crc32c.
crc=$(ls "$root"/native/crc/*.cc | grep -v crc_binding.cc)
sources="$root/tools/fuzz/page_delta_fuzz.cc $root/native/pages/delta.cc $root/native/pages/delta_compare.cc $crc"
flags="-std=c++17 -O1 -g -fno-omit-frame-pointer -I$root/native -fsanitize=address,undefined -fno-sanitize-recover=undefined"
if command -v clang++ >/dev/null 2>&1; then
  # shellcheck disable=SC2086
  clang++ $flags -fsanitize=fuzzer $sources -lpthread -o "$out/page_delta_fuzz"
  echo "built $out/page_delta_fuzz (libFuzzer)"
else
  # shellcheck disable=SC2086
  g++ $flags -DSALVOR_FUZZ_STANDALONE $sources -lpthread -o "$out/page_delta_fuzz"
  echo "built $out/page_delta_fuzz (standalone driver: give it a number of seconds)"
fi
