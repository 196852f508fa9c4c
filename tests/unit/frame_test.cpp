// ipc/: the frame parser, body decoders against malformed input, range
// checks, descriptor passing and the memfd arena rules.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ipc/fd_passing.hpp"
#include "ipc/frame.hpp"
#include "ipc/frame_reader.hpp"
#include "ipc/messages.hpp"
#include "ipc/shared_memory.hpp"

namespace ttscache::ipc {
namespace {

using ::testing::HasSubstr;

TEST(FrameReader, ReassemblesFramesFedByteByByte) {
  std::vector<uint8_t> stream = BuildFrame(2, 1, {});
  std::vector<uint8_t> second = BuildFrame(4, 99, std::vector<uint8_t>(300, 7));
  stream.insert(stream.end(), second.begin(), second.end());
  FrameReader parser;
  std::vector<Frame> frames;
  for (uint8_t b : stream) {
    ASSERT_TRUE(parser.Feed({&b, 1}).ok());
    while (auto f = parser.Next()) frames.push_back(std::move(f->frame));
  }
  ASSERT_EQ(frames.size(), 2u);
  EXPECT_EQ(frames[0].header.opcode, 2);
  EXPECT_EQ(frames[1].header.request_id, 99u);
  EXPECT_EQ(frames[1].body, std::vector<uint8_t>(300, 7));
  EXPECT_EQ(parser.buffered(), 0u);
}

// Before any body byte is accepted.
TEST(FrameReader, RefusesEachBadHeaderField) {
  uint8_t header[kHeaderSize];
  EncodeHeader({4, 0, 1, 1000}, header);
  FrameReader small(100);
  Status s = small.Feed({header, kHeaderSize});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, Errc::kTooLarge);
  EXPECT_THAT(s.error().message, HasSubstr("1000 bytes exceeds the limit of 100"));
  EXPECT_EQ(small.capacity(), 0u) << "nothing reserved for a refused body";
  header[4] = 2;  // version
  FrameReader p2;
  EXPECT_THAT(p2.Feed({header, kHeaderSize}).error().message, HasSubstr("protocol version 2"));
  EncodeHeader({4, 0, 1, 0}, header);
  header[20] = 1;  // reserved
  FrameReader p3;
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

// FrameReader: descriptors bound to the frame that carries them, and memory
// given back after a large frame.
namespace ttscache::ipc {
namespace {

// A pipe: whether a descriptor handed to the reader was closed shows as EOF
// on the read end once the reader let go of the write end.
struct Probe {
  UniqueFd read_end;
  UniqueFd write_end;
  Probe() {
    int p[2];
    EXPECT_EQ(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
    read_end.reset(p[0]);
    write_end.reset(p[1]);
  }
  bool WriteEndClosed() const {
    uint8_t b;
    return ::read(read_end.get(), &b, 1) == 0;
  }
};

std::vector<UniqueFd> OneFd(UniqueFd fd) {
  std::vector<UniqueFd> v;
  v.push_back(std::move(fd));
  return v;
}

std::vector<uint8_t> Concat(std::initializer_list<std::vector<uint8_t>> parts) {
  std::vector<uint8_t> out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

TEST(FrameReader, BindsADescriptorToItsFrameAcrossSplitReads) {
  // What Linux returns when a descriptor-less frame A is followed by frame B
  // sent with a descriptor: A and the start of B in one read (the descriptor
  // rides on B's first byte), then the rest of B, then C without one.
  std::vector<uint8_t> a = BuildFrame(0x82, 1, std::vector<uint8_t>(50, 1));
  std::vector<uint8_t> b = BuildFrame(0x83, 2, std::vector<uint8_t>(70, 2), kFlagFd);
  std::vector<uint8_t> c = BuildFrame(0x82, 3, {});
  std::vector<uint8_t> stream = Concat({a, b, c});
  Probe probe;
  FrameReader reader;
  const size_t first = a.size() + 10;
  ASSERT_TRUE(reader.Feed({stream.data(), first}, OneFd(std::move(probe.write_end))).ok());
  EXPECT_EQ(reader.pending_body_length(), std::nullopt);  // B's header is not complete yet
  std::optional<ReceivedFrame> fa = reader.Next();
  ASSERT_TRUE(fa);
  EXPECT_EQ(fa->frame.header.request_id, 1u);
  EXPECT_TRUE(fa->fds.empty());
  EXPECT_FALSE(reader.Next());
  ASSERT_TRUE(reader.Feed({stream.data() + first, 20}).ok());
  EXPECT_EQ(reader.pending_body_length(), 70u);
  EXPECT_EQ(reader.buffered(), 30u);
  ASSERT_TRUE(reader.Feed({stream.data() + first + 20, stream.size() - first - 20}).ok());
  std::optional<ReceivedFrame> fb = reader.Next();
  ASSERT_TRUE(fb);
  EXPECT_EQ(fb->frame.header.request_id, 2u);
  EXPECT_EQ(fb->frame.body, std::vector<uint8_t>(70, 2));
  ASSERT_EQ(fb->fds.size(), 1u);
  std::optional<ReceivedFrame> fc = reader.Next();
  ASSERT_TRUE(fc);
  EXPECT_TRUE(fc->fds.empty());
  EXPECT_EQ(reader.buffered(), 0u);
  EXPECT_FALSE(probe.WriteEndClosed()) << "frame B owns it";
  fb.reset();
  EXPECT_TRUE(probe.WriteEndClosed());
}

TEST(FrameReader, BindsDescriptorsAsTheKernelDeliversThem) {
  // The real socket: A without a descriptor, B with one, C with one. Linux
  // joins A and B in one read but never reads past B's descriptor.
  int pair[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
  UniqueFd tx(pair[0]), rx(pair[1]);
  UniqueFd memfd_b(memfd_create("b", MFD_CLOEXEC)), memfd_c(memfd_create("c", MFD_CLOEXEC));
  ASSERT_EQ(ftruncate(memfd_b.get(), 111), 0);
  ASSERT_EQ(ftruncate(memfd_c.get(), 222), 0);
  std::vector<uint8_t> a = BuildFrame(0x82, 1, std::vector<uint8_t>(5, 1));
  std::vector<uint8_t> b = BuildFrame(0x83, 2, std::vector<uint8_t>(6, 2), kFlagFd);
  std::vector<uint8_t> c = BuildFrame(0x83, 3, std::vector<uint8_t>(7, 3), kFlagFd);
  ASSERT_EQ(SendWithFd(tx.get(), a, -1).value(), a.size());
  ASSERT_EQ(SendWithFd(tx.get(), b, memfd_b.get()).value(), b.size());
  ASSERT_EQ(SendWithFd(tx.get(), c, memfd_c.get()).value(), c.size());
  FrameReader reader;
  std::vector<ReceivedFrame> frames;
  uint8_t buffer[4096];
  while (frames.size() < 3) {
    std::vector<UniqueFd> fds;
    Result<size_t> n = ReceiveWithFds(rx.get(), buffer, &fds, kMaxFdsPerMessage);
    ASSERT_TRUE(n.ok()) << n.error().message;
    ASSERT_TRUE(reader.Feed({buffer, *n}, std::move(fds)).ok());
    while (auto f = reader.Next()) frames.push_back(std::move(*f));
  }
  struct stat st;
  EXPECT_TRUE(frames[0].fds.empty());
  ASSERT_EQ(frames[1].fds.size(), 1u);
  ASSERT_EQ(fstat(frames[1].fds[0].get(), &st), 0);
  EXPECT_EQ(st.st_size, 111);
  ASSERT_EQ(frames[2].fds.size(), 1u);
  ASSERT_EQ(fstat(frames[2].fds[0].get(), &st), 0);
  EXPECT_EQ(st.st_size, 222);
}

TEST(FrameReader, RefusesAndClosesADescriptorNoFrameAnnounces) {
  std::vector<uint8_t> plain = BuildFrame(0x82, 1, std::vector<uint8_t>(10, 1));
  Probe probe;
  FrameReader reader;
  Status s = reader.Feed(plain, OneFd(std::move(probe.write_end)));
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.error().message, HasSubstr("no frame announcing one"));
  EXPECT_TRUE(probe.WriteEndClosed());
  EXPECT_TRUE(reader.failed());
  EXPECT_FALSE(reader.Next()) << "a failed reader hands out nothing";
  EXPECT_FALSE(reader.Feed(plain).ok()) << "and stays failed";

  // A descriptor arriving in the middle of a frame's body belongs to no frame
  // start either.
  std::vector<uint8_t> fd_frame = BuildFrame(0x83, 2, std::vector<uint8_t>(10, 1), kFlagFd);
  Probe first, second;
  FrameReader mid;
  ASSERT_TRUE(mid.Feed({fd_frame.data(), 30}, OneFd(std::move(first.write_end))).ok());
  EXPECT_FALSE(mid.Feed({fd_frame.data() + 30, 4}, OneFd(std::move(second.write_end))).ok());
  EXPECT_TRUE(first.WriteEndClosed());
  EXPECT_TRUE(second.WriteEndClosed());
}

TEST(FrameReader, RefusesAFrameWhoseDescriptorDidNotCome) {
  std::vector<uint8_t> fd_frame = BuildFrame(0x83, 7, {}, kFlagFd);
  FrameReader reader;
  Status s = reader.Feed(fd_frame);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.error().message, HasSubstr("frame 7 announces a descriptor"));
  // Two descriptors for a frame that may carry one: refused, both closed.
  Probe one, two;
  std::vector<UniqueFd> both = OneFd(std::move(one.write_end));
  both.push_back(std::move(two.write_end));
  FrameReader strict;
  EXPECT_FALSE(strict.Feed(fd_frame, std::move(both)).ok());
  EXPECT_TRUE(one.WriteEndClosed());
  EXPECT_TRUE(two.WriteEndClosed());
}

TEST(FrameReader, GivesBackTheMemoryOfALargeFrame) {
  constexpr uint32_t kBig = 60u << 20;
  std::vector<uint8_t> big = BuildFrame(0x84, 1, std::vector<uint8_t>(kBig, 9));
  std::vector<uint8_t> small = BuildFrame(0x82, 2, {});
  FrameReader reader;
  uint8_t header[kHeaderSize];
  EncodeHeader({0x84, 0, 1, kBig}, header);
  ASSERT_TRUE(reader.Feed({header, kHeaderSize}).ok());
  EXPECT_EQ(reader.pending_body_length(), kBig);
  EXPECT_LE(reader.capacity(), 64u << 10) << "an announced body costs nothing until it arrives";
  for (size_t at = kHeaderSize; at < big.size(); at += 65536) {
    ASSERT_TRUE(reader.Feed({big.data() + at, std::min<size_t>(65536, big.size() - at)}).ok());
  }
  EXPECT_EQ(reader.buffered(), big.size());
  std::optional<ReceivedFrame> f = reader.Next();
  ASSERT_TRUE(f);
  EXPECT_EQ(f->frame.body.size(), kBig);
  EXPECT_EQ(f->frame.body.capacity(), kBig) << "received into a body of the announced size";
  f.reset();
  ASSERT_TRUE(reader.Feed(small).ok());
  ASSERT_TRUE(reader.Next());
  EXPECT_EQ(reader.buffered(), 0u);
  EXPECT_LE(reader.capacity(), 64u << 10) << "the 60 MiB went away with its frame";
}

}  // namespace
}  // namespace ttscache::ipc
