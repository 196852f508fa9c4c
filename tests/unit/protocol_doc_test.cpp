// docs/protocol.md's hex examples are what ipc/ produces and accepts.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "ipc/frame.hpp"
#include "ipc/messages.hpp"

namespace ttscache::ipc {
namespace {

std::vector<uint8_t> DocExample(const std::string& name) {
  std::ifstream in(std::string(TTSCACHE_SOURCE_DIR) + "/docs/protocol.md");
  std::string doc((std::istreambuf_iterator<char>(in)), {});
  size_t at = doc.find("<!-- example:" + name + " -->");
  EXPECT_NE(at, std::string::npos) << name;
  size_t begin = doc.find("```\n", at) + 4;
  size_t end = doc.find("```", begin);
  std::istringstream hex(doc.substr(begin, end - begin));
  std::vector<uint8_t> bytes;
  for (std::string b; hex >> b;) bytes.push_back(static_cast<uint8_t>(std::stoul(b, nullptr, 16)));
  return bytes;
}

TEST(ProtocolDoc, PingExample) { EXPECT_EQ(DocExample("ping"), BuildFrame(0x02, 1, {})); }

TEST(ProtocolDoc, GetExample) {
  OpusParams defaults;
  defaults.bitrate_kbps = 0;
  GetRequest g{"piper", "Hi", AudioFormat::kWav, defaults, Delivery::kDescriptor, {}};
  std::vector<uint8_t> doc = DocExample("get");
  EXPECT_EQ(doc, BuildFrame(0x03, 7, EncodeGetRequest(g)));
  Result<FrameHeader> h = DecodeHeader(doc, kMaxFrameBody);
  ASSERT_TRUE(h.ok());
  Result<GetRequest> decoded = DecodeGetRequest({doc.data() + kHeaderSize, h->body_length});
  ASSERT_TRUE(decoded.ok()) << decoded.error().message;
  EXPECT_EQ(decoded->engine, "piper");
  EXPECT_EQ(decoded->text, "Hi");
  EXPECT_EQ(decoded->delivery, Delivery::kDescriptor);
}

TEST(ProtocolDoc, ReplyExamples) {
  EXPECT_EQ(DocExample("hit"),
            BuildFrame(0x83, 7, EncodeAudioReply(AudioPlace::kArena, 54827, {}), kFlagFd));
  EXPECT_EQ(
      DocExample("miss"),
      BuildFrame(0x7F, 7, EncodeErrorReply({ErrorCode::kNotFound, 0, 0, "not in the cache"})));
}

}  // namespace
}  // namespace ttscache::ipc
