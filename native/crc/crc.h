// CRC primitives shared by every native module. Both take and return the finalised CRC value
// (seed 0 for a fresh CRC), so crc(a+b) == crc(b, crc(a)).
#pragma once
#include <cstddef>
#include <cstdint>

namespace salvor {

uint32_t Crc32c(uint32_t crc, const uint8_t* data, size_t len);  // Castagnoli, hardware when available
uint32_t Crc32(uint32_t crc, const uint8_t* data, size_t len);   // IEEE 802.3 (zlib, U-Boot env)
const char* Crc32cBackend();  // which implementation Crc32c dispatches to
bool CrcSelfTest();           // known-answer checks of every implementation this CPU can run

}  // namespace salvor
