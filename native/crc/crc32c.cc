// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78). Portable table implementation.
// (A hardware dispatch replaces this file's Crc32c body; the table path stays as the fallback.)
#include "crc.h"

namespace salvor {
namespace {

struct Table {
  uint32_t t[256];
  Table() {
    for (uint32_t i = 0; i < 256; i++) {
      uint32_t c = i;
      for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1)));
      t[i] = c;
    }
  }
};

uint32_t Crc32cTable(uint32_t crc, const uint8_t* p, size_t n) {
  static const Table tab;
  crc = ~crc;
  while (n--) crc = (crc >> 8) ^ tab.t[(crc ^ *p++) & 0xff];
  return ~crc;
}

}  // namespace

uint32_t Crc32c(uint32_t crc, const uint8_t* data, size_t len) { return Crc32cTable(crc, data, len); }

const char* Crc32cBackend() { return "table"; }

bool CrcSelfTest() {
  const uint8_t digits[] = {'1', '2', '3', '4', '5', '6', '7', '8', '9'};
  return Crc32c(0, digits, 9) == 0xE3069283u && Crc32(0, digits, 9) == 0xCBF43926u;
}

}  // namespace salvor
