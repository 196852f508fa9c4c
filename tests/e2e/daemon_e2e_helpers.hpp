// Helpers shared by the daemon_*_test.cpp files (the end-to-end tests of
// a real ttscached): test tones, opusinfo checks, error bodies.
#pragma once

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <span>
#include <string>
#include <vector>

#include "ipc/messages.hpp"
#include "tests/support/wav_builder.hpp"
#include "ttscache/client.hpp"

namespace ttscache::e2e {

inline std::vector<uint8_t> Tone(int seed, double seconds = 0.5, int rate = 22050) {
  testing::WavSpec spec;
  spec.rate = static_cast<uint32_t>(rate);
  return testing::MakeWav(
      spec, testing::EncodeSamples(spec, testing::HarmonicSignal(rate, 1, seconds, 150.0 + seed)));
}

inline std::vector<uint8_t> ToVector(const AudioBuffer& b) {
  return {b.u8().begin(), b.u8().end()};
}

// opusinfo accepts the stream without a warning.
inline void ExpectOpusinfoClean(std::span<const uint8_t> ogg, const std::string& dir) {
  const std::string path = dir + "/check.opus";
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(ogg.data()), static_cast<long>(ogg.size()));
  FILE* p = popen(("opusinfo " + path + " 2>&1").c_str(), "r");
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  EXPECT_EQ(pclose(p), 0) << out;
  EXPECT_THAT(out, ::testing::Not(::testing::HasSubstr("WARNING")));
  EXPECT_THAT(out, ::testing::HasSubstr("Opus stream 1"));
}

inline ipc::ErrorReply ErrorOf(const std::vector<uint8_t>& body) {
  return ipc::DecodeErrorReply(body).value();
}

inline constexpr uint8_t kError = static_cast<uint8_t>(ipc::Opcode::kError);

}  // namespace ttscache::e2e
