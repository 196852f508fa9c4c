// Tier keys: the layout, the longest key the configuration allows (prefix
// 32, engine 32, voice 64, the longest VariantTag) within memcached's 250
// bytes, and keys memcached would refuse reported as errors.
#include "daemon/tier/tier_key.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace ttscache {
namespace {

using ::testing::HasSubstr;

CacheKey Key() { return ComputeCacheKey("Hello world").value(); }

TEST(TierKey, Layout) {
  EXPECT_EQ(TierKey("ttscache", "piper", Key()).value(), "ttscache:1:piper:" + Key().hex());
  EXPECT_EQ(TierKey("fleet", "piper/en_US-amy", Key()).value(),
            "fleet:1:piper/en_US-amy:" + Key().hex());
  OpusParams p;
  EXPECT_EQ(TierVariantKey("ttscache", "piper", Key(), p).value(),
            "ttscache:1:piper:" + Key().hex() + ":" + VariantTag(p));
}

TEST(TierKey, TheLongestKeyFits) {
  // The longest tag of all valid parameters, found by trying them all.
  OpusParams longest;
  size_t longest_tag = 0;
  for (int b = kMinBitrateKbps; b <= kMaxBitrateKbps; ++b) {
    for (VbrMode v : {VbrMode::kOn, VbrMode::kOff, VbrMode::kConstrained}) {
      for (OpusApplication a :
           {OpusApplication::kVoip, OpusApplication::kAudio, OpusApplication::kLowDelay}) {
        for (int c = 0; c <= kMaxComplexity; ++c) {
          for (int f : {2500, 5000, 10000, 20000, 40000, 60000}) {
            OpusParams p;
            p.bitrate_kbps = b, p.vbr = v, p.application = a, p.complexity = c, p.frame_us = f;
            if (VariantTag(p).size() > longest_tag) longest_tag = VariantTag(longest = p).size();
          }
        }
      }
    }
  }
  ASSERT_TRUE(Validate(longest).ok());
  EXPECT_EQ(VariantTag(longest), "b100-vconstrained-alowdelay-c10-f10000");
  const std::string prefix(32, 'p');
  const std::string engine = std::string(32, 'e') + "/" + std::string(64, 'v');
  Result<std::string> key = TierVariantKey(prefix, engine, Key(), longest);
  ASSERT_TRUE(key.ok()) << key.error().message;
  EXPECT_EQ(key->size(), 236u);
  EXPECT_LE(key->size(), kMaxMemcachedKeyBytes);
  EXPECT_TRUE(IsValidMemcachedKey(*key));
}

TEST(TierKey, RefusesWhatMemcachedWould) {
  Result<std::string> spaced = TierKey("ttscache", "pi per", Key());
  ASSERT_FALSE(spaced.ok());
  EXPECT_EQ(spaced.error().code, Errc::kInvalidArgument);
  EXPECT_THAT(spaced.error().message, HasSubstr("no space or control byte"));
  EXPECT_FALSE(TierKey("ttscache", "piper\n", Key()).ok());
  EXPECT_FALSE(TierKey("ttscache", std::string(1, '\x7f'), Key()).ok());
  Result<std::string> long_key = TierKey(std::string(200, 'p'), "piper", Key());
  ASSERT_FALSE(long_key.ok());
  EXPECT_THAT(long_key.error().message, HasSubstr("expected 1–250 bytes"));
  EXPECT_FALSE(IsValidMemcachedKey(""));
  EXPECT_TRUE(IsValidMemcachedKey(std::string(250, 'k')));
  EXPECT_FALSE(IsValidMemcachedKey(std::string(251, 'k')));
}

}  // namespace
}  // namespace ttscache
