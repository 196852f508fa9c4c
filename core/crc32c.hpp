// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78, as iSCSI, ext4 and
// RFC 3720 use it): the checksum of the fleet tier's values. Computed with
// SSE4.2's crc32 instruction when the CPU has it, else by table (8 KiB
// slicing-by-8 table, built at compile time). Pure functions; thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace ttscache {

// Continues a CRC: Crc32c(b, Crc32c(a)) == Crc32c(a ++ b). Start with 0.
uint32_t Crc32c(std::span<const uint8_t> bytes, uint32_t crc = 0);

// The two implementations, for the tests that compare them. The hardware
// one REQUIRES: Crc32cHardwareAvailable().
uint32_t Crc32cSoftware(std::span<const uint8_t> bytes, uint32_t crc = 0);
uint32_t Crc32cHardware(std::span<const uint8_t> bytes, uint32_t crc = 0);
bool Crc32cHardwareAvailable();

}  // namespace ttscache
