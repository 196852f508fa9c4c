// docs/protocol.md's hex examples are what ipc/ produces and accepts, and
// its opcode and error-code tables list exactly the values in
// ipc/protocol.hpp, with the same numbers and names.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <sstream>

#include "core/cachekey/cache_key.hpp"
#include "ipc/error_codes.hpp"
#include "ipc/frame.hpp"
#include "ipc/messages.hpp"

namespace ttscache::ipc {
namespace {

std::string ProtocolDoc() {
  std::ifstream in(std::string(TTSCACHE_SOURCE_DIR) + "/docs/protocol.md");
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

// The first two columns of the Markdown table whose header row starts with
// `header` (e.g. "| code | name |"): number (decimal or 0x hex) → name.
std::map<unsigned, std::string> DocTable(const std::string& header) {
  std::istringstream doc(ProtocolDoc());
  std::map<unsigned, std::string> rows;
  bool in_table = false;
  for (std::string line; std::getline(doc, line);) {
    if (line.starts_with(header)) {
      in_table = true;
      continue;
    }
    if (!in_table) continue;
    if (!line.starts_with("|")) break;  // the table ended
    if (line.starts_with("|---")) continue;
    std::istringstream cells(line.substr(1));
    std::string number, name;
    std::getline(cells, number, '|');
    std::getline(cells, name, '|');
    auto trim = [](std::string s) {
      s.erase(0, s.find_first_not_of(' '));
      s.erase(s.find_last_not_of(' ') + 1);
      return s;
    };
    unsigned value = static_cast<unsigned>(std::stoul(trim(number), nullptr, 0));
    EXPECT_TRUE(rows.emplace(value, trim(name)).second) << "listed twice: " << line;
  }
  EXPECT_TRUE(in_table) << "no table headed " << header << " in docs/protocol.md";
  return rows;
}

// The name docs/protocol.md gives each opcode. No default: a new opcode in
// ipc/protocol.hpp fails the build here (-Wswitch, -Werror) until the doc and
// this list have it. Requests only; ERROR is a reply (see below).
const char* DocOpcodeName(Opcode op) {
  switch (op) {
    case Opcode::kHello:
      return "HELLO";
    case Opcode::kPing:
      return "PING";
    case Opcode::kGet:
      return "GET";
    case Opcode::kPut:
      return "PUT";
    case Opcode::kEncode:
      return "ENCODE";
    case Opcode::kPutEncode:
      return "PUT_ENCODE";
    case Opcode::kStats:
      return "STATS";
    case Opcode::kArena:
      return "ARENA";
    case Opcode::kPutFile:
      return "PUT_FILE";
    case Opcode::kHasKeys:
      return "HAS_KEYS";
    case Opcode::kStreamOpen:
      return "STREAM_OPEN";
    case Opcode::kStreamPush:
      return "STREAM_PUSH";
    case Opcode::kStreamFinish:
      return "STREAM_FINISH";
    case Opcode::kStreamAbort:
      return "STREAM_ABORT";
    case Opcode::kDelete:
      return "DELETE";
    case Opcode::kPurge:
      return "PURGE";
    case Opcode::kList:
      return "LIST";
    case Opcode::kVerify:
      return "VERIFY";
    case Opcode::kClaimDrop:
      return "CLAIM_DROP";
    case Opcode::kSlotAcquire:
      return "SLOT_ACQUIRE";
    case Opcode::kSlotRelease:
      return "SLOT_RELEASE";
    case Opcode::kError:
      return nullptr;
  }
  return nullptr;  // not an enumerator
}

TEST(ProtocolDoc, OpcodeTableListsEveryRequestOpcode) {
  std::map<unsigned, std::string> code;
  for (unsigned v = 0; v <= 0xFF; ++v) {
    if (const char* name = DocOpcodeName(static_cast<Opcode>(v))) code.emplace(v, name);
  }
  EXPECT_THAT(DocTable("| opcode | name |"), ::testing::ContainerEq(code));
  EXPECT_NE(ProtocolDoc().find("An ERROR reply (opcode 0x7F)"), std::string::npos);
  EXPECT_EQ(static_cast<unsigned>(Opcode::kError), 0x7Fu);
  EXPECT_EQ(static_cast<unsigned>(Opcode::kGet) | kReplyBit, 0x83u);  // "request's opcode + 0x80"
}

// Every ErrorCode (kWireErrors lists them all; error_codes_test checks that)
// with its number and name, and nothing else.
TEST(ProtocolDoc, ErrorTableListsEveryErrorCode) {
  std::map<unsigned, std::string> code;
  for (const WireError& e : kWireErrors) code.emplace(static_cast<unsigned>(e.wire), e.name);
  ASSERT_EQ(code.at(9), "buffer too small");
  EXPECT_THAT(DocTable("| code | name |"), ::testing::ContainerEq(code));
}

std::vector<uint8_t> DocExample(const std::string& name) {
  std::string doc = ProtocolDoc();
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

TEST(ProtocolDoc, PutFileExample) {
  CacheKey key;
  ASSERT_TRUE(
      ParseCacheKeyHex("8f434346648f6b96df89dda901c5176b10a6d83961dd3c1ac88b59b2dc327aa4", &key));
  EXPECT_EQ(ComputeCacheKey("Hi").value().hex(), key.hex());
  const uint64_t last_used = 1700000000ull * 1000000000ull;
  std::vector<uint8_t> doc = DocExample("put_file");
  EXPECT_EQ(doc,
            BuildFrame(0x09, 9, EncodePutFileRequest({"piper", key.digest, last_used}), kFlagFd));
  Result<FrameHeader> h = DecodeHeader(doc, kMaxFrameBody);
  ASSERT_TRUE(h.ok());
  Result<PutFileRequest> decoded = DecodePutFileRequest({doc.data() + kHeaderSize, h->body_length});
  ASSERT_TRUE(decoded.ok()) << decoded.error().message;
  EXPECT_EQ(decoded->engine, "piper");
  EXPECT_EQ(decoded->last_used_ns, last_used);
  EXPECT_EQ(DocExample("put_file_reply"),
            BuildFrame(0x89, 9, EncodePutFileReply({PutFileOutcome::kStored, 54827})));
}

}  // namespace
}  // namespace ttscache::ipc
