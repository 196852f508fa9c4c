// PUT_FILE (docs/protocol.md): a WAV passed as a descriptor and stored under
// a given key and last-used time — what `ttscache adopt` sends. The good path
// (a hit by text, byte-equal, the daemon's own copy, placed in the LRU by its
// time), then every hostile descriptor a client can pass: a pipe whose writer
// never writes, a socket, a directory, a device, a write-only or O_PATH
// handle, an empty file, a non-WAV, a huge sparse file, a file truncated while
// the daemon copies it, none or two descriptors, a short key. Each gets an error naming
// what was wrong, at once, and the daemon goes on serving. And HAS_KEYS, the
// question adopt asks first.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fcntl.h>
#include <chrono>
#include <filesystem>
#include <thread>

#include "core/cachekey/cache_key.hpp"
#include "ipc/messages.hpp"
#include "tests/e2e/daemon_process.hpp"
#include "tests/support/raw_peer.hpp"
#include "tests/support/wav_builder.hpp"

namespace ttscache {
namespace {

using testing::DaemonProcess;
using ::testing::HasSubstr;
using testing::RawPeer;
using Clock = std::chrono::steady_clock;

constexpr uint64_t kOldNs = 1700000000ull * 1000000000ull;

std::vector<uint8_t> Wav(double seconds) {
  testing::WavSpec spec;
  spec.rate = 22050;
  return testing::MakeWav(
      spec, testing::EncodeSamples(spec, testing::HarmonicSignal(22050, 1, seconds, 180.0)));
}

CacheKey KeyOf(const std::string& text) { return ComputeCacheKey(text).value(); }

// A file holding `bytes`, open for reading.
UniqueFd FileWith(const std::string& path, std::span<const uint8_t> bytes) {
  UniqueFd w(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  EXPECT_EQ(::write(w.get(), bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
  return UniqueFd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
}

// The 44-byte header of a 22,050 Hz mono 16-bit WAV whose data chunk says
// `data_bytes`: written over a sparse file, a large WAV of silence.
std::vector<uint8_t> HeaderForSilence(uint64_t data_bytes) {
  testing::WavSpec spec;
  spec.rate = 22050;
  std::vector<uint8_t> header = testing::MakeWav(spec, std::vector<uint8_t>(2));
  header.resize(44);
  for (int i = 0; i < 4; ++i) header[40 + i] = static_cast<uint8_t>(data_bytes >> (8 * i));
  const uint64_t riff = data_bytes + 36;
  for (int i = 0; i < 4; ++i) header[4 + i] = static_cast<uint8_t>(riff >> (8 * i));
  return header;
}

class PutFile : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(daemon_.Start()) << daemon_.log(); }
  Result<ttscache::PutFileResult> Put(const std::string& text, int fd, uint64_t last_used = kOldNs,
                                      const std::string& engine = "piper") {
    Client c = daemon_.Connect();
    return c.PutFileByKey(engine, KeyOf(text).digest, fd, last_used);
  }
  // The daemon still answers another client, quickly.
  void StillServes() {
    Client c = daemon_.Connect();
    ASSERT_TRUE(c.Put("xtts", "still here", wav_));
    auto started = Clock::now();
    Result<AudioBuffer> hit = c.Get("xtts", "still here", Format::kWav);
    ASSERT_TRUE(hit) << hit.error().message;
    EXPECT_LT(Clock::now() - started, std::chrono::seconds(1));
  }
  DaemonProcess daemon_;
  std::vector<uint8_t> wav_ = Wav(0.5);
};

TEST_F(PutFile, AFileIsStoredByKeyAndIsAByteEqualHitByText) {
  UniqueFd fd = FileWith(daemon_.dir() + "/in.wav", wav_);
  Result<ttscache::PutFileResult> put = Put("The lights are on.", fd.get());
  ASSERT_TRUE(put) << put.error().message;
  EXPECT_EQ(put->outcome, ttscache::PutFileOutcome::kStored);
  EXPECT_EQ(put->size, wav_.size());
  Client c = daemon_.Connect();
  Result<AudioBuffer> hit = c.Get("piper", "  the LIGHTS are   on. ", Format::kWav);
  ASSERT_TRUE(hit) << hit.error().message;
  EXPECT_TRUE(std::equal(hit->u8().begin(), hit->u8().end(), wav_.begin(), wav_.end()));
  // The daemon's own copy, with the given time as its mtime.
  struct stat st;
  const std::string copy =
      daemon_.cache_dir() + "/piper/" + KeyOf("The lights are on.").hex() + ".wav";
  ASSERT_EQ(::stat(copy.c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, ::geteuid());
  EXPECT_EQ(static_cast<uint64_t>(st.st_mtim.tv_sec), kOldNs / 1000000000ull);
  // Once more: already cached, nothing copied.
  put = Put("The lights are on.", fd.get());
  ASSERT_TRUE(put);
  EXPECT_EQ(put->outcome, ttscache::PutFileOutcome::kAlreadyCached);
  // From another filesystem (a memfd: tmpfs), where copy_file_range says
  // EXDEV and the daemon copies with sendfile.
  UniqueFd memfd(::memfd_create("adopt-test", MFD_CLOEXEC));
  ASSERT_EQ(::write(memfd.get(), wav_.data(), wav_.size()), static_cast<ssize_t>(wav_.size()));
  put = Put("from tmpfs", memfd.get());
  ASSERT_TRUE(put) << put.error().message;
  EXPECT_EQ(put->outcome, ttscache::PutFileOutcome::kStored);
  hit = c.Get("piper", "from tmpfs", Format::kWav);
  ASSERT_TRUE(hit) << hit.error().message;
  EXPECT_TRUE(std::equal(hit->u8().begin(), hit->u8().end(), wav_.begin(), wav_.end()));
  // A time in the future counts as now.
  put = Put("from the future", fd.get(), kOldNs * 3);
  ASSERT_TRUE(put);
  ASSERT_EQ(
      ::stat((daemon_.cache_dir() + "/piper/" + KeyOf("from the future").hex() + ".wav").c_str(),
             &st),
      0);
  EXPECT_LE(st.st_mtim.tv_sec, ::time(nullptr));
}

TEST(PutFileLru, AnEntryTakesItsPlaceByItsLastUsedTime) {
  DaemonProcess daemon({}, {{"max_entries", "2"}});
  ASSERT_TRUE(daemon.Start()) << daemon.log();
  const std::vector<uint8_t> wav = Wav(0.2);
  UniqueFd fd = FileWith(daemon.dir() + "/in.wav", wav);
  Client c = daemon.Connect();
  ASSERT_TRUE(c.Put("piper", "fresh", wav));
  auto put = [&](const std::string& text, uint64_t t) {
    return c.PutFileByKey("piper", KeyOf(text).digest, fd.get(), t).value().outcome;
  };
  EXPECT_EQ(put("old", kOldNs), ttscache::PutFileOutcome::kStored);
  // Older than both entries of the full engine: stored, then evicted at once.
  EXPECT_EQ(put("older", kOldNs - 1000), ttscache::PutFileOutcome::kEvictedAtOnce);
  EXPECT_EQ(put("newer", kOldNs + 1000), ttscache::PutFileOutcome::kStored);  // evicts "old"
  EXPECT_TRUE(c.Get("piper", "fresh", Format::kWav));
  EXPECT_TRUE(c.Get("piper", "newer", Format::kWav));
  EXPECT_EQ(c.Get("piper", "old", Format::kWav).error().code, Errc::kNotFound);
  EXPECT_EQ(c.Get("piper", "older", Format::kWav).error().code, Errc::kNotFound);
}

// HAS_KEYS answers which keys an engine holds without using them: no hit or
// miss counted, nothing moved in the LRU order; too many keys in one request
// and an unknown engine are refused.
TEST(HasKeys, AnswersWithoutTouchingTheCache) {
  DaemonProcess daemon({}, {{"max_entries", "2"}});
  ASSERT_TRUE(daemon.Start()) << daemon.log();
  const std::vector<uint8_t> wav = Wav(0.2);
  Client c = daemon.Connect();
  ASSERT_TRUE(c.Put("piper", "first", wav));
  ASSERT_TRUE(c.Put("piper", "second", wav));
  std::vector<std::array<uint8_t, 32>> keys = {KeyOf("first").digest, KeyOf("absent").digest,
                                               KeyOf("second").digest};
  Result<std::vector<bool>> has = c.HasKeys("piper", keys);
  ASSERT_TRUE(has) << has.error().message;
  EXPECT_EQ(*has, (std::vector<bool>{true, false, true}));
  EXPECT_EQ(c.HasKeys("xtts", keys).value(), (std::vector<bool>{false, false, false}));
  ttscache::Stats stats = c.Stats().value();
  EXPECT_EQ(stats.engines[1].name, "piper");
  EXPECT_EQ(stats.engines[1].hits + stats.engines[1].misses, 0u);
  // "first" was asked about, not used: it is still the one evicted.
  ASSERT_TRUE(c.Put("piper", "third", wav));
  EXPECT_EQ(c.HasKeys("piper", keys).value(), (std::vector<bool>{false, false, true}));
  // More keys than one request may carry: the client splits them.
  keys.resize(ipc::kMaxKeysPerHas * 2 + 3, KeyOf("absent").digest);
  keys.back() = KeyOf("third").digest;
  has = c.HasKeys("piper", keys);
  ASSERT_TRUE(has) << has.error().message;
  EXPECT_EQ(has->size(), keys.size());
  EXPECT_TRUE(has->back());
  EXPECT_EQ(c.HasKeys("nope", keys).error().code, Errc::kUnknownEngine);
  // A raw request over the bound is refused by name.
  RawPeer peer(daemon.socket_path());
  ipc::BodyWriter w;
  w.String("piper").U32(ipc::kMaxKeysPerHas + 1);
  w.Raw(std::vector<uint8_t>(32 * (ipc::kMaxKeysPerHas + 1), 0));
  peer.Send(ipc::BuildFrame(0x0A, 9, w.bytes()));
  auto [op, rid, reply] = peer.Read();
  ASSERT_EQ(op, static_cast<uint8_t>(ipc::Opcode::kError));
  EXPECT_THAT(ipc::DecodeErrorReply(reply).value().message,
              HasSubstr("HAS_KEYS asks for 4097 keys, at most 4096"));
}

// A large PUT_FILE is copied a slice per turn: with one worker, another
// connection's put goes between its slices and is answered first (with the
// copy in one job it waited for the whole file).
TEST(PutFileTurns, ALargeCopyDoesNotHoldTheWorkerFromOthers) {
  DaemonProcess daemon(testing::Keys{{"workers", "1"}});
  ASSERT_TRUE(daemon.Start()) << daemon.log();
  // A WAV of 96 MiB of silence: a header over a sparse file.
  const uint64_t data = 96ull << 20;
  const std::vector<uint8_t> header = HeaderForSilence(data);
  const std::string path = daemon.dir() + "/large.wav";
  UniqueFd large = FileWith(path, header);
  ASSERT_EQ(::truncate(path.c_str(), static_cast<off_t>(44 + data)), 0);
  RawPeer adopter(daemon.socket_path());
  const CacheKey key = KeyOf("large");
  adopter.Send(ipc::BuildFrame(0x09, 1, ipc::EncodePutFileRequest({"piper", key.digest, kOldNs}),
                               ipc::kFlagFd),
               large.get());
  // The adopter's reply is read, and timed, on its own thread.
  Clock::time_point adopted_at;
  std::tuple<uint8_t, uint64_t, std::vector<uint8_t>> adopted;
  std::thread reader([&] {
    adopted = adopter.Read();
    adopted_at = Clock::now();
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(5));  // its first slice runs
  Client other = daemon.Connect();
  const auto started = Clock::now();
  ASSERT_TRUE(other.Put("xtts", "in between", Wav(0.2)));
  const auto put_at = Clock::now();
  reader.join();
  auto& [op, rid, reply] = adopted;
  ASSERT_EQ(op, 0x09 | ipc::kReplyBit) << ipc::DecodeErrorReply(reply).value().message;
  EXPECT_EQ(ipc::DecodePutFileReply(reply).value().size, 44 + data);
  std::cout << "[ figure   ] a put sent 5 ms into a 96 MiB PUT_FILE: answered after "
            << std::chrono::duration<double, std::milli>(put_at - started).count()
            << " ms, the PUT_FILE after "
            << std::chrono::duration<double, std::milli>(adopted_at - started).count() << " ms\n";
  EXPECT_LT(put_at, adopted_at) << "the put waited for the whole copy";
}

struct Refusal {
  Errc code;
  std::string says;
};

void ExpectRefused(const Result<ttscache::PutFileResult>& put, const Refusal& want) {
  ASSERT_FALSE(put) << "accepted, expected: " << want.says;
  EXPECT_EQ(put.error().code, want.code) << put.error().message;
  EXPECT_THAT(put.error().message, HasSubstr(want.says));
}

TEST_F(PutFile, EveryHostileDescriptorGetsAClearErrorAtOnce) {
  const std::string dir = daemon_.dir();
  auto started = Clock::now();
  {
    // A pipe whose writer never writes: refused unread, nothing blocks.
    int p[2];
    ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
    UniqueFd r(p[0]), w(p[1]);
    ExpectRefused(
        Put("pipe", r.get()),
        {Errc::kInvalidArgument, "the passed descriptor is a pipe, expected a regular file"});
  }
  {
    int s[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s), 0);
    UniqueFd a(s[0]), b(s[1]);
    ExpectRefused(Put("socket", a.get()), {Errc::kInvalidArgument, "is a socket"});
  }
  {
    UniqueFd d(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    ExpectRefused(Put("directory", d.get()), {Errc::kInvalidArgument, "is a directory"});
  }
  {
    UniqueFd zero(::open("/dev/zero", O_RDONLY | O_CLOEXEC));
    ExpectRefused(Put("device", zero.get()), {Errc::kInvalidArgument, "is a character device"});
  }
  {
    FileWith(dir + "/wo.wav", wav_);
    UniqueFd wo(::open((dir + "/wo.wav").c_str(), O_WRONLY | O_CLOEXEC));
    ExpectRefused(Put("write-only", wo.get()), {Errc::kInvalidArgument, "open write-only"});
    UniqueFd path(::open((dir + "/wo.wav").c_str(), O_PATH | O_CLOEXEC));
    ExpectRefused(Put("o_path", path.get()), {Errc::kInvalidArgument, "O_PATH"});
  }
  {
    UniqueFd empty = FileWith(dir + "/empty.wav", {});
    ExpectRefused(Put("empty", empty.get()), {Errc::kBadAudio, "empty"});
    const std::string text = "not a wav at all, just text";
    UniqueFd junk =
        FileWith(dir + "/junk.wav", {reinterpret_cast<const uint8_t*>(text.data()), text.size()});
    ExpectRefused(Put("junk", junk.get()), {Errc::kBadAudio, "refusing to cache"});
    std::vector<uint8_t> cut(wav_.begin(), wav_.begin() + 300);
    UniqueFd truncated = FileWith(dir + "/cut.wav", cut);
    ExpectRefused(Put("cut", truncated.get()), {Errc::kBadAudio, "truncated data chunk"});
  }
  {
    // 1 TiB of nothing: refused by its size, before a byte is copied.
    UniqueFd sparse = FileWith(dir + "/sparse.wav", wav_);
    UniqueFd grow(::open((dir + "/sparse.wav").c_str(), O_WRONLY | O_CLOEXEC));
    ASSERT_EQ(::ftruncate(grow.get(), 1ll << 40), 0);
    ExpectRefused(Put("sparse", sparse.get()), {Errc::kTooLarge, "1099511627776 bytes, more than"});
  }
  {
    UniqueFd fd = FileWith(dir + "/ok.wav", wav_);
    ExpectRefused(Put("engine", fd.get(), kOldNs, "nope"),
                  {Errc::kUnknownEngine, "unknown engine \"nope\", expected one of: xtts, piper"});
  }
  EXPECT_LT(Clock::now() - started, std::chrono::seconds(5));
  // Nothing of these reached the cache folder.
  size_t files = 0;
  for (const auto& f : std::filesystem::directory_iterator(daemon_.cache_dir() + "/piper")) {
    (void)f;
    ++files;
  }
  EXPECT_EQ(files, 0u);
  StillServes();
}

TEST_F(PutFile, WrongDescriptorCountsAndBodiesAreRefusedAndClosed) {
  RawPeer peer(daemon_.socket_path());
  ASSERT_TRUE(peer.connected);
  const CacheKey key = KeyOf("raw");
  const std::vector<uint8_t> body = ipc::EncodePutFileRequest({"piper", key.digest, kOldNs});
  auto expect_error = [&](uint64_t id, const std::string& says) {
    auto [op, rid, reply] = peer.Read();
    ASSERT_EQ(op, static_cast<uint8_t>(ipc::Opcode::kError));
    EXPECT_EQ(rid, id);
    EXPECT_THAT(ipc::DecodeErrorReply(reply).value().message, HasSubstr(says));
  };
  // No descriptor.
  peer.Send(ipc::BuildFrame(0x09, 1, body));
  expect_error(1, "PUT_FILE carries 0 descriptors, expected 1");
  UniqueFd fd = FileWith(daemon_.dir() + "/raw.wav", wav_);
  // A key of 31 bytes.
  std::vector<uint8_t> short_key = body;
  short_key.erase(short_key.begin() + 4 + 5 + 31);
  peer.Send(ipc::BuildFrame(0x09, 2, short_key, ipc::kFlagFd), fd.get());
  expect_error(2, "malformed PUT_FILE request");
  // The good one still goes through on the same connection.
  peer.Send(ipc::BuildFrame(0x09, 3, body, ipc::kFlagFd), fd.get());
  auto [op, rid, reply] = peer.Read();
  ASSERT_EQ(op, 0x09 | ipc::kReplyBit) << ipc::DecodeErrorReply(reply).value().message;
  EXPECT_EQ(ipc::DecodePutFileReply(reply).value().outcome, ipc::PutFileOutcome::kStored);
  // Two descriptors in one message: more than any frame may carry; the
  // connection is told why and closed (both descriptors closed unread).
  RawPeer greedy(daemon_.socket_path());
  greedy.Send(ipc::BuildFrame(0x09, 4, body, ipc::kFlagFd), fd.get(), fd.get());
  auto [op2, rid2, reply2] = greedy.Read();
  ASSERT_EQ(op2, static_cast<uint8_t>(ipc::Opcode::kError));
  EXPECT_THAT(ipc::DecodeErrorReply(reply2).value().message, HasSubstr("descriptors"));
  EXPECT_EQ(std::get<0>(greedy.Read()), 0) << "the connection stays open";
  StillServes();
}

TEST_F(PutFile, AFileTruncatedWhileCopiedIsAnErrorNotACrash) {
  // A WAV header for 48 MiB of silence over a sparse file, truncated to a few
  // bytes right after it is passed: the daemon finds it short, in its fstat,
  // its copy or its check of the copy, and says so. It never maps the
  // client's file, so there is no SIGBUS to take it down.
  const uint64_t data = 48ull << 20;
  const std::vector<uint8_t> header = HeaderForSilence(data);
  int refused = 0, stored = 0;
  for (int round = 0; round < 6; ++round) {
    const std::string path = daemon_.dir() + "/shrinking" + std::to_string(round) + ".wav";
    UniqueFd fd = FileWith(path, header);
    UniqueFd writer(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
    ASSERT_EQ(::ftruncate(writer.get(), static_cast<off_t>(44 + data)), 0);
    RawPeer peer(daemon_.socket_path());
    const CacheKey key = KeyOf("shrinking " + std::to_string(round));
    peer.Send(ipc::BuildFrame(0x09, 1, ipc::EncodePutFileRequest({"piper", key.digest, kOldNs}),
                              ipc::kFlagFd),
              fd.get());
    std::this_thread::sleep_for(std::chrono::milliseconds(round * 3));
    ASSERT_EQ(::ftruncate(writer.get(), 100), 0);
    auto [op, rid, reply] = peer.Read();
    ASSERT_NE(op, 0) << "no reply; daemon log: " << daemon_.log();
    if (op == static_cast<uint8_t>(ipc::Opcode::kError)) {
      ipc::ErrorReply e = ipc::DecodeErrorReply(reply).value();
      EXPECT_EQ(e.code, ipc::ErrorCode::kBadAudio) << e.message;
      EXPECT_THAT(e.message, ::testing::AnyOf(HasSubstr("ended after"), HasSubstr("truncated"),
                                              HasSubstr("refusing to cache")));
      std::cout << "[ figure   ] round " << round << ": " << e.message << "\n";
      ++refused;
    } else {
      ++stored;  // copied whole before the truncate: a complete WAV of silence
    }
  }
  std::cout << "[ figure   ] truncated while copied: " << refused << " refused, " << stored
            << " copied whole first\n";
  EXPECT_GT(refused, 0);
  StillServes();
}

}  // namespace
}  // namespace ttscache
