// Tier values: the layout byte for byte, a round trip, and every way a value
// can be wrong — each single-byte change anywhere, each truncation, a value
// stored under another key, the wrong kind — refused with a message naming
// the field.
#include "daemon/tier/tier_value.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "core/crc32c.hpp"

namespace ttscache {
namespace {

using ::testing::HasSubstr;

const std::string kKey = "ttscache:1:piper:0123456789abcdef";

std::vector<uint8_t> Payload(size_t n, uint32_t seed = 7) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> p(n);
  for (uint8_t& b : p) b = static_cast<uint8_t>(rng());
  return p;
}

TEST(TierValue, AVariantCarriesTheCrcOfItsWav) {
  const std::vector<uint8_t> wav = Payload(400), ogg = Payload(40);
  const uint32_t wav_crc = Crc32c(wav);
  const std::vector<uint8_t> v = EncodeTierValue(TierValueKind::kOpusVariant, "k1", ogg, wav_crc);
  EXPECT_EQ(v[16] | v[17] << 8 | v[18] << 16 | static_cast<uint32_t>(v[19]) << 24, wav_crc);
  uint32_t source = 0;
  Result<std::span<const uint8_t>> back =
      DecodeTierValue(v, TierValueKind::kOpusVariant, "k1", &source);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(source, wav_crc);
  EXPECT_EQ(std::vector<uint8_t>(back->begin(), back->end()), ogg);
  // A WAV never carries one: given, it is not written.
  const std::vector<uint8_t> w = EncodeTierValue(TierValueKind::kWav, "k1", wav, wav_crc);
  EXPECT_TRUE(DecodeTierValue(w, TierValueKind::kWav, "k1").ok());
  EXPECT_EQ(w[16] | w[17] | w[18] | w[19], 0);
}

TEST(TierValue, Layout) {
  const std::vector<uint8_t> payload = {1, 2, 3};
  const std::vector<uint8_t> v = EncodeTierValue(TierValueKind::kOpusVariant, "k1", payload);
  ASSERT_EQ(v.size(), 24u + 2 + 3);
  EXPECT_EQ(std::string(v.begin(), v.begin() + 4), "TTSt");
  EXPECT_EQ(v[4], 1);  // version
  EXPECT_EQ(v[5], 2);  // kind
  EXPECT_EQ(v[6], 2);  // key_length, little-endian
  EXPECT_EQ(v[7], 0);
  EXPECT_EQ(v[8], 3);                                    // payload_length
  for (int i = 9; i < 20; ++i) EXPECT_EQ(v[i], 0) << i;  // its high bytes; no source given
  std::vector<uint8_t> covered(v.begin(), v.begin() + 20);
  covered.insert(covered.end(), v.begin() + 24, v.end());
  const uint32_t crc = Crc32c(covered);
  EXPECT_EQ(v[20] | v[21] << 8 | v[22] << 16 | static_cast<uint32_t>(v[23]) << 24, crc);
  EXPECT_EQ(std::string(v.begin() + 24, v.begin() + 26), "k1");
  EXPECT_EQ(std::vector<uint8_t>(v.begin() + 26, v.end()), payload);
}

TEST(TierValue, RoundTrip) {
  for (size_t n : {0u, 1u, 100u, 70000u}) {
    const std::vector<uint8_t> payload = Payload(n);
    const std::vector<uint8_t> v = EncodeTierValue(TierValueKind::kWav, kKey, payload);
    Result<std::span<const uint8_t>> back = DecodeTierValue(v, TierValueKind::kWav, kKey);
    ASSERT_TRUE(back.ok()) << back.error().message;
    EXPECT_EQ(std::vector<uint8_t>(back->begin(), back->end()), payload);
  }
}

TEST(TierValue, EverySingleByteChangeIsDetected) {
  const std::vector<uint8_t> good = EncodeTierValue(TierValueKind::kWav, kKey, Payload(300));
  for (size_t i = 0; i < good.size(); ++i) {
    for (uint8_t flip : {0x01, 0x80, 0xFF}) {
      std::vector<uint8_t> bad = good;
      bad[i] ^= flip;
      Result<std::span<const uint8_t>> r = DecodeTierValue(bad, TierValueKind::kWav, kKey);
      ASSERT_FALSE(r.ok()) << "byte " << i << " ^ " << int(flip);
      EXPECT_EQ(r.error().code, Errc::kBadAudio);
    }
  }
}

TEST(TierValue, EveryTruncationAndExtensionIsDetected) {
  const std::vector<uint8_t> good = EncodeTierValue(TierValueKind::kWav, kKey, Payload(200));
  for (size_t n = 0; n < good.size(); ++n) {
    std::span<const uint8_t> cut(good.data(), n);
    ASSERT_FALSE(DecodeTierValue(cut, TierValueKind::kWav, kKey).ok()) << n;
  }
  std::vector<uint8_t> longer = good;
  longer.push_back(0);
  Result<std::span<const uint8_t>> r = DecodeTierValue(longer, TierValueKind::kWav, kKey);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error().message, HasSubstr("payload_length 200, but 201 payload bytes follow"));
}

TEST(TierValue, MessagesNameTheField) {
  const std::vector<uint8_t> good = EncodeTierValue(TierValueKind::kWav, kKey, Payload(50));
  auto message = [&](std::vector<uint8_t> v, TierValueKind kind = TierValueKind::kWav,
                     const std::string& key = kKey) {
    Result<std::span<const uint8_t>> r = DecodeTierValue(v, kind, key);
    return r.ok() ? std::string("ok") : r.error().message;
  };
  EXPECT_THAT(message({1, 2, 3}), HasSubstr("3 bytes, shorter than the 24-byte header"));
  std::vector<uint8_t> v = good;
  v[0] = 'X';
  EXPECT_THAT(message(v), HasSubstr("magic"));
  v = good;
  v[4] = 2;
  EXPECT_THAT(message(v), HasSubstr("version 2, expected 1"));
  EXPECT_THAT(message(good, TierValueKind::kOpusVariant), HasSubstr("kind 1, expected 2"));
  v = good;
  v[17] = 1;
  EXPECT_THAT(message(v), HasSubstr("source_crc32c 0x00000100 in a WAV, expected 0"));
  v = good;
  v.back() ^= 1;
  EXPECT_THAT(message(v), HasSubstr("crc32c"));
  // A good value of another key (same length, and not) stored under this one.
  std::string other = kKey;
  other.back() = 'x';
  EXPECT_THAT(message(EncodeTierValue(TierValueKind::kWav, other, Payload(50))),
              HasSubstr("written for another key"));
  EXPECT_THAT(message(EncodeTierValue(TierValueKind::kWav, kKey + "0", Payload(50))),
              HasSubstr("key_length"));
}

}  // namespace
}  // namespace ttscache
