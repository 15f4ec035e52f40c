// CRC-32 (IEEE, reflected polynomial 0xEDB88320) by slicing-by-8 tables. Used for U-Boot
// environments, which are small; CRC-32C carries the hot paths.
#include "crc.h"
#include "slice8.h"

namespace salvor {

uint32_t Crc32(uint32_t crc, const uint8_t* p, size_t n) { return Slice8<0xEDB88320u>::Compute(crc, p, n); }

}  // namespace salvor
