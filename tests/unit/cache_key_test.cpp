// Cache keys against the reference: node runs the old module's key function
// (tests/node/old-tts-cache.mjs) on a table of hard texts and ours must agree
// bit for bit.
#include "core/cachekey/cache_key.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unicode/uversion.h>

#include <cstdio>
#include <fstream>
#include <sstream>

namespace ttscache {
namespace {

std::string Hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += kDigits[c >> 4];
    out += kDigits[c & 15];
  }
  return out;
}

std::string Utf8(char32_t c) {
  std::string s;
  if (c < 0x80) {
    s += static_cast<char>(c);
  } else if (c < 0x800) {
    s += static_cast<char>(0xC0 | (c >> 6));
    s += static_cast<char>(0x80 | (c & 0x3F));
  } else if (c < 0x10000) {
    s += static_cast<char>(0xE0 | (c >> 12));
    s += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (c & 0x3F));
  } else {
    s += static_cast<char>(0xF0 | (c >> 18));
    s += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
    s += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (c & 0x3F));
  }
  return s;
}

// The hard texts: every JS whitespace character, the near misses, special
// casing, scripts, emoji, combining marks, empty input and invalid UTF-8.
std::vector<std::string> HardTexts() {
  std::vector<std::string> texts = {
      "Hello",
      "The lights are on.",
      "  One   moment…  ",
      "",
      " ",
      "\t\n\v\f\r ",
      "İstanbul",          // İ → i + U+0307
      "ΟΔΟΣ",              // final sigma at the end
      "ΟΔΟΣ.",             // before punctuation
      "ΟΔΟΣ ΚΑΙ",          // before a space
      "ΟΔΟΣ1",             // before a digit
      "ΣΑΣ\u0301",         // before a combining mark
      "Σ",                 // alone
      "AΣB",               // inside a word
      "STRASSE Straße ẞ",  // ß stays ß, ẞ → ß
      "\u212A Kelvin",     // Kelvin sign → k
      "Привет, МИР",       // Cyrillic
      "ΑΒΓ αβγ",           // Greek
      "😀 Emoji 👍🏽 ZWJ 👩‍👩‍👧",
      "é vs e\u0301",                  // no normalization
      "ǅ ǈ ǋ",                         // titlecase digraphs
      "ＡＢＣ ｆｕｌｌ",               // fullwidth
      "Ⅻ ⓐⒶ",                          // number forms, circled letters
      "𐐀𐐁 Deseret",                    // astral uppercase
      std::string("nul\0inside", 10),  // embedded NUL
      "\xFF\xFE bad",                  // invalid bytes
      "\xC3",                          // truncated sequence at the end
      "a\xE2\x82z",                    // truncated 3-byte sequence
      "\xED\xA0\x80 surrogate",        // encoded surrogate
      "\xF4\x90\x80\x80 beyond",       // above U+10FFFF
      "\xC0\xAF overlong",             // overlong
      "\xF0\x9F\x98 cut emoji",
      "\x80\x80\x80",
  };
  // Every whitespace JavaScript knows, alone, leading, trailing and inside.
  for (char32_t c : {0x09,   0x0A,   0x0B,   0x0C,   0x0D,   0x20,   0xA0,   0x1680, 0x2000,
                     0x2001, 0x2002, 0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009,
                     0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000, 0xFEFF}) {
    texts.push_back(Utf8(c) + "A" + Utf8(c) + Utf8(c) + "B" + Utf8(c));
  }
  // The near misses: not whitespace in JavaScript.
  for (char32_t c : {0x85, 0x180E, 0x200B, 0x200C, 0x200D, 0x2060, 0x1C, 0x1F}) {
    texts.push_back(Utf8(c) + "A" + Utf8(c) + "B" + Utf8(c));
  }
  return texts;
}

// Code points whose lowercase mapping differs between the system ICU and the
// Unicode version of node's ICU, with the reason; texts containing them are
// compared against this list instead. Empty while Debian 12's ICU 72
// (Unicode 15.0) and node 20's ICU (Unicode 15.1) agree on every text above.
const std::vector<std::pair<char32_t, const char*>> kKnownIcuDifferences = {};

std::vector<std::string> NodeKeys(const std::vector<std::string>& texts) {
  std::string dir = ::testing::TempDir();
  std::string input = dir + "/texts.hex";
  {
    std::ofstream out(input);
    for (const std::string& t : texts) out << Hex(t) << "\n";
  }
  std::string script = std::string(TTSCACHE_SOURCE_DIR) + "/tests/node/old-tts-cache.mjs";
  FILE* pipe = popen(("node " + script + " keys < " + input).c_str(), "r");
  std::vector<std::string> keys;
  if (!pipe) return keys;
  char line[128];
  while (fgets(line, sizeof(line), pipe)) keys.emplace_back(line, 64);
  pclose(pipe);
  return keys;
}

TEST(CacheKey, MatchesNodeBitForBit) {
  std::vector<std::string> texts = HardTexts();
  std::vector<std::string> expected = NodeKeys(texts);
  ASSERT_EQ(expected.size(), texts.size()) << "node did not answer for every text";
  std::printf("system ICU %s; node keys for %zu texts\n", U_ICU_VERSION, texts.size());
  for (size_t i = 0; i < texts.size(); ++i) {
    bool differs_by_icu_version = false;
    for (const auto& [code_point, reason] : kKnownIcuDifferences) {
      if (texts[i].find(Utf8(code_point)) != std::string::npos) {
        std::printf("text #%zu: U+%04X differs between ICU versions: %s\n", i,
                    static_cast<unsigned>(code_point), reason);
        differs_by_icu_version = true;
      }
    }
    if (differs_by_icu_version) continue;
    Result<CacheKey> key = ComputeCacheKey(texts[i]);
    ASSERT_TRUE(key.ok()) << key.error().message;
    EXPECT_EQ(key->hex(), expected[i])
        << "text #" << i << " (hex " << Hex(texts[i]) << ") normalized to hex "
        << Hex(NormalizeText(texts[i]).value());
  }
}

TEST(CacheKey, NormalizesLikeJavaScript) {
  EXPECT_EQ(NormalizeText("  Hello \u00A0\t World \u3000").value(), "hello world");
  EXPECT_EQ(NormalizeText("İ").value(), "i\u0307");
  EXPECT_EQ(NormalizeText("ΟΔΟΣ.").value(), "οδος.");
  EXPECT_EQ(NormalizeText("ΣΑ").value(), "σα");
  EXPECT_EQ(NormalizeText("ẞ ß").value(), "ß ß");
  EXPECT_EQ(NormalizeText("\u212A").value(), "k");
  EXPECT_EQ(NormalizeText("a\u200Bb").value(), "a\u200Bb");  // zero-width space is not \s
  EXPECT_EQ(NormalizeText("\u0085x\u0085").value(), "\u0085x\u0085");
  EXPECT_EQ(NormalizeText("\xFF\xFE").value(), "\uFFFD\uFFFD");
  EXPECT_EQ(NormalizeText(std::string("a\0b", 3)).value(), std::string("a\0b", 3));
  EXPECT_EQ(NormalizeText("").value(), "");
  EXPECT_EQ(NormalizeText(" \t ").value(), "");
}

TEST(CacheKey, AsciiFastPathAgreesWithIcu) {
  // Every ASCII byte, alone and around letters and spaces, once as pure ASCII
  // (fast path) and once with a non-ASCII character appended (ICU path).
  for (int c = 0; c < 0x80; ++c) {
    std::string text = std::string(" a") + static_cast<char>(c) + "B " + static_cast<char>(c) + "Z";
    std::string ascii = NormalizeText(text).value();
    std::string icu = NormalizeText(text + "\u00e9").value();
    ASSERT_EQ(ascii + "\u00e9", icu) << "byte " << c;
  }
}

TEST(CacheKey, KnownVectors) {
  // sha256("hello") and sha256(""), independently known values.
  EXPECT_EQ(ComputeCacheKey("  HELLO ")->hex(),
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
  EXPECT_EQ(ComputeCacheKey("   ")->hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(CacheKey, HexRoundTripAndPaths) {
  CacheKey key = ComputeCacheKey("The lights are on.").value();
  CacheKey parsed;
  ASSERT_TRUE(ParseCacheKeyHex(key.hex(), &parsed));
  EXPECT_EQ(parsed, key);
  EXPECT_FALSE(ParseCacheKeyHex(key.hex().substr(1), &parsed));
  EXPECT_FALSE(ParseCacheKeyHex(std::string(64, 'A'), &parsed));
  EXPECT_FALSE(ParseCacheKeyHex(std::string(63, 'a') + "/", &parsed));
  EXPECT_EQ(EntryRelativePath("piper", key), "piper/" + key.hex() + ".wav");
}

TEST(CacheKey, WhitespaceSetIsJavaScripts) {
  int count = 0;
  for (char32_t c = 0; c < 0x10000; ++c) count += IsJavaScriptWhitespace(c);
  EXPECT_EQ(count, 25);
  EXPECT_FALSE(IsJavaScriptWhitespace(0x85));
  EXPECT_FALSE(IsJavaScriptWhitespace(0x180E));
  EXPECT_FALSE(IsJavaScriptWhitespace(0x200B));
}

}  // namespace
}  // namespace ttscache
