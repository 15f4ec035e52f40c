// Slicing-by-8 table CRC for any reflected 32-bit polynomial: the portable path of CRC-32C and the
// only path of CRC-32 (IEEE). Assumes little-endian loads, as on every target salvor ships for.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace salvor {

template <uint32_t Poly>
class Slice8 {
 public:
  static uint32_t Compute(uint32_t crc, const uint8_t* p, size_t n) {
    const auto& t = Tables().t;
    crc = ~crc;
    while (n >= 8) {
      uint32_t lo, hi;
      memcpy(&lo, p, 4);
      memcpy(&hi, p + 4, 4);
      lo ^= crc;
      crc = t[7][lo & 0xff] ^ t[6][(lo >> 8) & 0xff] ^ t[5][(lo >> 16) & 0xff] ^ t[4][lo >> 24] ^
            t[3][hi & 0xff] ^ t[2][(hi >> 8) & 0xff] ^ t[1][(hi >> 16) & 0xff] ^ t[0][hi >> 24];
      p += 8;
      n -= 8;
    }
    while (n--) crc = (crc >> 8) ^ t[0][(crc ^ *p++) & 0xff];
    return ~crc;
  }

 private:
  struct Table {
    uint32_t t[8][256];
    Table() {
      for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (Poly & (0u - (c & 1)));
        t[0][i] = c;
      }
      for (uint32_t i = 0; i < 256; i++)
        for (int s = 1; s < 8; s++) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xff];
    }
  };
  static const Table& Tables() {
    static const Table table;
    return table;
  }
};

}  // namespace salvor
