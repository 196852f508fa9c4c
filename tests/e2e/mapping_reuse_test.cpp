// Hits by descriptor reuse the client's mapping while the daemon still serves
// the same file: the request names the file the client maps (a FileId), the
// daemon answers "unchanged" without passing a descriptor. Checked through
// libttscache (same mapping, right bytes, a replaced entry is remapped, a
// restarted daemon never matches an old id) and on the wire (no descriptor
// attached to an "unchanged" reply; a wrong id gets the descriptor).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <vector>

#include "ipc/fd_passing.hpp"
#include "ipc/frame.hpp"
#include "ipc/messages.hpp"
#include "tests/e2e/daemon_process.hpp"
#include "tests/support/wav_builder.hpp"

namespace ttscache {
namespace {

using testing::DaemonProcess;

std::vector<uint8_t> Wav(int seed) {
  testing::WavSpec spec;
  return testing::MakeWav(
      spec, testing::EncodeSamples(spec, testing::HarmonicSignal(22050, 1, 0.1, 150 + seed)));
}

std::vector<uint8_t> Bytes(const AudioBuffer& b) { return {b.u8().begin(), b.u8().end()}; }

TEST(MappingReuse, ARepeatedHitReturnsTheSameMappingUntilTheEntryChanges) {
  DaemonProcess d;
  ASSERT_TRUE(d.Start());
  Client c = d.Connect();
  ASSERT_TRUE(c.Put("piper", "phrase", Wav(1)).ok());
  AudioBuffer first = c.Get("piper", "phrase", Format::kWav).value();
  AudioBuffer second = c.Get("piper", "phrase", Format::kWav).value();
  ASSERT_TRUE(first.mapped() && second.mapped());
  EXPECT_EQ(first.bytes().data(), second.bytes().data()) << "the mapping was not reused";
  EXPECT_EQ(Bytes(second), Wav(1));

  ASSERT_TRUE(c.Put("piper", "phrase", Wav(2)).ok());  // a new file for the key
  AudioBuffer third = c.Get("piper", "phrase", Format::kWav).value();
  EXPECT_EQ(Bytes(third), Wav(2)) << "served the old mapping of a replaced entry";
  EXPECT_EQ(Bytes(first), Wav(1)) << "an earlier buffer keeps its bytes";

  // Opus variants are reused the same way.
  AudioBuffer v1 = c.Get("piper", "phrase", Format::kOpus).value();
  AudioBuffer v2 = c.Get("piper", "phrase", Format::kOpus).value();
  EXPECT_EQ(v1.bytes().data(), v2.bytes().data());

  // A restarted daemon has a new nonce: the old id never matches.
  EXPECT_EQ(d.Stop(), 0);
  ASSERT_TRUE(d.Start());
  AudioBuffer after = c.Get("piper", "phrase", Format::kWav).value();
  EXPECT_NE(after.bytes().data(), third.bytes().data());
  EXPECT_EQ(Bytes(after), Wav(2));

  ASSERT_TRUE(c.Put("xtts", "gone soon", Wav(3)).ok());
  ASSERT_TRUE(c.Get("xtts", "gone soon", Format::kWav).ok());
  EXPECT_EQ(d.Stop(), 0);
  std::filesystem::remove_all(d.cache_dir() + "/xtts");
  ASSERT_TRUE(d.Start());
  EXPECT_EQ(c.Get("xtts", "gone soon", Format::kWav).error().code, Errc::kNotFound);
}

// One GET on a raw connection: the reply, and how many descriptors came with it.
std::pair<ipc::AudioReply, size_t> RawGet(int fd, ipc::FileId known, std::vector<uint8_t>* body) {
  ipc::GetRequest g{
      "piper", "raw", ipc::AudioFormat::kWav, DaemonDefaultOpus(), ipc::Delivery::kDescriptor,
      known};
  std::vector<uint8_t> frame = ipc::BuildFrame(3, 1, ipc::EncodeGetRequest(g));
  EXPECT_EQ(::send(fd, frame.data(), frame.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(frame.size()));
  std::vector<UniqueFd> fds;
  body->clear();
  uint8_t buffer[4096];
  size_t wanted = ipc::kHeaderSize;
  while (body->size() < wanted) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 5000) != 1) break;
    Result<size_t> n = ipc::ReceiveWithFds(fd, buffer, &fds, 4);  // does not block
    if (!n && n.error().code == Errc::kNotFound) continue;
    if (!n || *n == 0) break;
    body->insert(body->end(), buffer, buffer + *n);
    if (body->size() >= ipc::kHeaderSize) {
      wanted = ipc::kHeaderSize + ipc::DecodeHeader(*body, ipc::kMaxFrameBody)->body_length;
    }
  }
  if (body->size() < wanted) {
    ADD_FAILURE() << "no complete reply";
    return {};
  }
  body->erase(body->begin(), body->begin() + ipc::kHeaderSize);
  return {ipc::DecodeAudioReply(*body).value(), fds.size()};
}

TEST(MappingReuse, OnTheWireUnchangedCarriesNoDescriptor) {
  DaemonProcess d;
  ASSERT_TRUE(d.Start());
  ASSERT_TRUE(d.Connect().Put("piper", "raw", Wav(4)).ok());
  UniqueFd s(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  d.socket_path().copy(a.sun_path, sizeof(a.sun_path) - 1);
  ASSERT_EQ(::connect(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  std::vector<uint8_t> body;

  auto [first, first_fds] = RawGet(s.get(), {}, &body);
  EXPECT_EQ(first.place, ipc::AudioPlace::kArena);
  EXPECT_EQ(first_fds, 1u);
  ASSERT_TRUE(first.file.valid());

  auto [again, again_fds] = RawGet(s.get(), first.file, &body);
  EXPECT_EQ(again.place, ipc::AudioPlace::kUnchanged);
  EXPECT_EQ(again_fds, 0u) << "a descriptor was passed for an unchanged file";
  EXPECT_EQ(again.file, first.file);
  EXPECT_EQ(again.size, first.size);

  ipc::FileId wrong = first.file;
  wrong.sequence += 1000;
  auto [other, other_fds] = RawGet(s.get(), wrong, &body);
  EXPECT_EQ(other.place, ipc::AudioPlace::kArena);
  EXPECT_EQ(other_fds, 1u);
}

}  // namespace
}  // namespace ttscache
