// ipc/: the frame parser, body decoders against malformed input, range
// checks, descriptor passing and the memfd arena rules.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include "ipc/fd_passing.hpp"
#include "ipc/frame.hpp"
#include "ipc/messages.hpp"
#include "ipc/shared_memory.hpp"

namespace ttscache::ipc {
namespace {

using ::testing::HasSubstr;

TEST(FrameParser, ReassemblesFramesFedByteByByte) {
  std::vector<uint8_t> stream = BuildFrame(2, 1, {});
  std::vector<uint8_t> second = BuildFrame(4, 99, std::vector<uint8_t>(300, 7));
  stream.insert(stream.end(), second.begin(), second.end());
  FrameParser parser;
  std::vector<Frame> frames;
  for (uint8_t b : stream) {
    ASSERT_TRUE(parser.Feed({&b, 1}).ok());
    while (auto f = parser.Next()) frames.push_back(std::move(*f));
  }
  ASSERT_EQ(frames.size(), 2u);
  EXPECT_EQ(frames[0].header.opcode, 2);
  EXPECT_EQ(frames[1].header.request_id, 99u);
  EXPECT_EQ(frames[1].body, std::vector<uint8_t>(300, 7));
  EXPECT_EQ(parser.buffered(), 0u);
}

TEST(FrameParser, RefusesABadHeaderBeforeTheBody) {
  uint8_t header[kHeaderSize];
  EncodeHeader({4, 0, 1, 1000}, header);
  FrameParser small(100);
  Status s = small.Feed({header, kHeaderSize});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, Errc::kTooLarge);
  EXPECT_THAT(s.error().message, HasSubstr("1000 bytes exceeds the limit of 100"));
  header[4] = 2;  // version
  FrameParser p2;
  EXPECT_THAT(p2.Feed({header, kHeaderSize}).error().message, HasSubstr("protocol version 2"));
  EncodeHeader({4, 0, 1, 0}, header);
  header[20] = 1;  // reserved
  FrameParser p3;
  EXPECT_FALSE(p3.Feed({header, kHeaderSize}).ok());
}

TEST(Messages, RoundTripAndRefuseMalformedBodies) {
  OpusParams p;
  p.bitrate_kbps = 48;
  GetRequest g{"xtts", "hello", AudioFormat::kOpus, p, Delivery::kInline, {}};
  std::vector<uint8_t> body = EncodeGetRequest(g);
  Result<GetRequest> back = DecodeGetRequest(body);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->params, p);
  // Every truncation fails cleanly, as does a trailing byte.
  for (size_t n = 0; n < body.size(); ++n) {
    EXPECT_FALSE(DecodeGetRequest({body.data(), n}).ok()) << n;
  }
  body.push_back(0);
  EXPECT_FALSE(DecodeGetRequest(body).ok());
  body.pop_back();
  body[4 + 4 + 4 + 5] = 9;  // format
  EXPECT_THAT(DecodeGetRequest(body).error().message, HasSubstr("format"));
  // A string length beyond the body.
  std::vector<uint8_t> lying = {0xFF, 0xFF, 0xFF, 0x7F, 'a'};
  EXPECT_FALSE(DecodePutRequest(lying).ok());
  // Opus parameters out of range.
  OpusParams bad = p;
  bad.complexity = 11;
  EncodeRequest e{bad, {AudioPlace::kInline, {}, 0, 0}, {}};
  EXPECT_THAT(DecodeEncodeRequest(EncodeEncodeRequest(e)).error().message, HasSubstr("complexity"));
  ErrorReply err{ErrorCode::kBusy, 50, 0, "full"};
  Result<ErrorReply> err_back = DecodeErrorReply(EncodeErrorReply(err));
  ASSERT_TRUE(err_back.ok());
  EXPECT_EQ(err_back->retry_after_ms, 50u);
}

TEST(SharedMemory, RangeInsideIsOverflowProof) {
  EXPECT_TRUE(RangeInside(0, 10, 10));
  EXPECT_TRUE(RangeInside(10, 0, 10));
  EXPECT_FALSE(RangeInside(5, 6, 10));
  EXPECT_FALSE(RangeInside(11, 0, 10));
  EXPECT_FALSE(RangeInside(UINT64_MAX, 2, 10));
  EXPECT_FALSE(RangeInside(2, UINT64_MAX, 10));
}

TEST(SharedMemory, ArenaRules) {
  Result<UniqueFd> sealed = CreateSealedMemfd("t", 8192);
  ASSERT_TRUE(sealed.ok());
  EXPECT_TRUE(MapPeerArena(sealed->get(), 1 << 20).ok());
  EXPECT_EQ(MapPeerArena(sealed->get(), 4096).error().code, Errc::kTooLarge);
  UniqueFd unsealed(memfd_create("u", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  ASSERT_EQ(ftruncate(unsealed.get(), 4096), 0);
  EXPECT_THAT(MapPeerArena(unsealed.get(), 1 << 20).error().message, HasSubstr("F_SEAL_SHRINK"));
  UniqueFd file(open("/proc/self/exe", O_RDONLY | O_CLOEXEC));
  EXPECT_THAT(MapPeerArena(file.get(), 1 << 30).error().message, HasSubstr("not a memfd"));
}

TEST(FdPassing, CarriesOneDescriptorAndRefusesExtras) {
  int pair[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
  UniqueFd a(pair[0]), b(pair[1]);
  UniqueFd memfd(memfd_create("x", MFD_CLOEXEC));
  uint8_t byte = 42;
  ASSERT_EQ(SendWithFd(a.get(), {&byte, 1}, memfd.get()).value(), 1u);
  uint8_t got = 0;
  std::vector<UniqueFd> fds;
  ASSERT_EQ(ReceiveWithFds(b.get(), {&got, 1}, &fds, 1).value(), 1u);
  ASSERT_EQ(fds.size(), 1u);
  EXPECT_EQ(got, 42);
  EXPECT_TRUE(fcntl(fds[0].get(), F_GETFD) & FD_CLOEXEC);
  // A second descriptor when one is the limit: refused (and closed).
  ASSERT_EQ(SendWithFd(a.get(), {&byte, 1}, memfd.get()).value(), 1u);
  Result<size_t> extra = ReceiveWithFds(b.get(), {&got, 1}, &fds, 1);
  ASSERT_FALSE(extra.ok());
  EXPECT_THAT(extra.error().message, HasSubstr("at most 1"));
  // Nothing to read: kNotFound, not an error.
  EXPECT_EQ(ReceiveWithFds(b.get(), {&got, 1}, &fds, 1).error().code, Errc::kNotFound);
}

}  // namespace
}  // namespace ttscache::ipc

namespace ttscache::ipc {
namespace {

TEST(Messages, FileIdsRoundTripAndAreOptional) {
  GetRequest g{"xtts", "hi", AudioFormat::kWav, {}, Delivery::kDescriptor, {7, 9}};
  Result<GetRequest> back = DecodeGetRequest(EncodeGetRequest(g));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->known, (FileId{7, 9}));
  g.known = {};
  std::vector<uint8_t> plain = EncodeGetRequest(g);
  EXPECT_FALSE(DecodeGetRequest(plain)->known.valid()) << "no id: the old layout";
  plain.insert(plain.end(), 5, 0);  // a partial id is malformed
  EXPECT_FALSE(DecodeGetRequest(plain).ok());

  Result<AudioReply> sent = DecodeAudioReply(EncodeAudioReply(AudioPlace::kArena, 100, {}, {1, 2}));
  ASSERT_TRUE(sent.ok());
  EXPECT_EQ(sent->file, (FileId{1, 2}));
  EXPECT_TRUE(DecodeAudioReply(EncodeAudioReply(AudioPlace::kArena, 100, {})).ok());
  Result<AudioReply> same =
      DecodeAudioReply(EncodeAudioReply(AudioPlace::kUnchanged, 100, {}, {1, 2}));
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(same->place, AudioPlace::kUnchanged);
  EXPECT_FALSE(DecodeAudioReply(EncodeAudioReply(AudioPlace::kUnchanged, 100, {})).ok())
      << "'unchanged' must name the file";
  std::vector<uint8_t> bad_place = EncodeAudioReply(AudioPlace::kArena, 1, {});
  bad_place[0] = 3;
  EXPECT_FALSE(DecodeAudioReply(bad_place).ok());
}

}  // namespace
}  // namespace ttscache::ipc
