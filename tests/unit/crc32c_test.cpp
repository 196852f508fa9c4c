// CRC-32C: RFC 3720 B.4's vectors and the usual check value, on both the
// table and the SSE4.2 paths; the two agree on random data of every length
// and alignment, and a CRC continued over pieces equals the whole's.
#include "core/crc32c.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string_view>
#include <vector>

namespace ttscache {
namespace {

std::span<const uint8_t> Bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

using Function = uint32_t (*)(std::span<const uint8_t>, uint32_t);

std::vector<Function> Implementations() {
  std::vector<Function> f = {&Crc32cSoftware, &Crc32c};
  if (Crc32cHardwareAvailable()) f.push_back(&Crc32cHardware);
  return f;
}

TEST(Crc32c, KnownVectors) {
  std::vector<uint8_t> zeros(32, 0x00), ones(32, 0xFF), up(32), down(32);
  for (int i = 0; i < 32; ++i) {
    up[i] = static_cast<uint8_t>(i);
    down[i] = static_cast<uint8_t>(31 - i);
  }
  for (Function crc : Implementations()) {
    EXPECT_EQ(crc(zeros, 0), 0x8A9136AAu);  // RFC 3720 B.4
    EXPECT_EQ(crc(ones, 0), 0x62A8AB43u);
    EXPECT_EQ(crc(up, 0), 0x46DD794Eu);
    EXPECT_EQ(crc(down, 0), 0x113FDB5Cu);
    EXPECT_EQ(crc(Bytes("123456789"), 0), 0xE3069283u);
    EXPECT_EQ(crc({}, 0), 0u);
  }
}

TEST(Crc32c, HardwareAndTableAgreeOnRandomData) {
  if (!Crc32cHardwareAvailable()) GTEST_SKIP() << "no SSE4.2 on this CPU";
  std::mt19937 rng(19);
  std::vector<uint8_t> data(4096 + 16);
  for (uint8_t& b : data) b = static_cast<uint8_t>(rng());
  for (size_t offset = 0; offset < 8; ++offset) {
    for (size_t length = 0; length < 300; ++length) {
      std::span<const uint8_t> piece(data.data() + offset, length);
      ASSERT_EQ(Crc32cHardware(piece, 0), Crc32cSoftware(piece, 0)) << offset << " " << length;
    }
  }
  for (int round = 0; round < 200; ++round) {
    const size_t offset = rng() % 16, length = rng() % 4096;
    const uint32_t seed = static_cast<uint32_t>(rng());
    std::span<const uint8_t> piece(data.data() + offset, length);
    ASSERT_EQ(Crc32cHardware(piece, seed), Crc32cSoftware(piece, seed));
  }
}

TEST(Crc32c, ContinuesOverPieces) {
  std::string_view text = "The quick brown fox jumps over the lazy dog, twice over.";
  for (Function crc : Implementations()) {
    for (size_t cut = 0; cut <= text.size(); ++cut) {
      EXPECT_EQ(crc(Bytes(text.substr(cut)), crc(Bytes(text.substr(0, cut)), 0)),
                crc(Bytes(text), 0));
    }
  }
}

}  // namespace
}  // namespace ttscache
