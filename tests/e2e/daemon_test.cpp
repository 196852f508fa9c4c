// ttscached end to end: a real daemon process, the real socket, libttscache
// and raw frames. Each hostile peer runs beside a well-behaved client that
// must keep getting correct answers.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <thread>

#include "core/audio/wav_reader.hpp"
#include "ipc/frame.hpp"
#include "ipc/messages.hpp"
#include "tests/e2e/daemon_process.hpp"
#include "tests/support/raw_peer.hpp"
#include "tests/support/wav_builder.hpp"
#include "ttscache/arena_allocator.hpp"

namespace ttscache {
namespace {

namespace fs = std::filesystem;
using testing::DaemonProcess;
using ::testing::HasSubstr;
using testing::RawPeer;

std::vector<uint8_t> Tone(int seed, double seconds = 0.5, int rate = 22050) {
  testing::WavSpec spec;
  spec.rate = static_cast<uint32_t>(rate);
  return testing::MakeWav(
      spec, testing::EncodeSamples(spec, testing::HarmonicSignal(rate, 1, seconds, 150.0 + seed)));
}

std::vector<uint8_t> ToVector(const AudioBuffer& b) { return {b.u8().begin(), b.u8().end()}; }

// opusinfo accepts the stream without a warning.
void ExpectOpusinfoClean(std::span<const uint8_t> ogg, const std::string& dir) {
  const std::string path = dir + "/check.opus";
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(ogg.data()), static_cast<long>(ogg.size()));
  FILE* p = popen(("opusinfo " + path + " 2>&1").c_str(), "r");
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  EXPECT_EQ(pclose(p), 0) << out;
  EXPECT_THAT(out, ::testing::Not(HasSubstr("WARNING")));
  EXPECT_THAT(out, HasSubstr("Opus stream 1"));
}

ipc::ErrorReply ErrorOf(const std::vector<uint8_t>& body) {
  return ipc::DecodeErrorReply(body).value();
}

constexpr uint8_t kError = static_cast<uint8_t>(ipc::Opcode::kError);

TEST(Daemon, EveryOperationOverBothAudioPaths) {
  DaemonProcess d;
  ASSERT_TRUE(d.Start()) << d.log();
  Client c = d.Connect();
  std::vector<uint8_t> wav = Tone(1);
  ASSERT_TRUE(c.Put("piper", "The lights are on.", wav).ok());

  Result<AudioBuffer> by_fd = c.Get("piper", "the lights are ON.", Format::kWav);
  ASSERT_TRUE(by_fd.ok()) << by_fd.error().message;
  EXPECT_TRUE(by_fd->mapped()) << "a hit comes as the cached file's descriptor";
  EXPECT_EQ(ToVector(*by_fd), wav);
  Result<AudioBuffer> inline_hit =
      c.Get("piper", "the lights are on.", Format::kWav, DaemonDefaultOpus(), false);
  ASSERT_TRUE(inline_hit.ok());
  EXPECT_FALSE(inline_hit->mapped());
  EXPECT_EQ(ToVector(*inline_hit), wav);
  Result<AudioBuffer> miss = c.Get("piper", "never said", Format::kWav);
  EXPECT_EQ(miss.error().code, Errc::kNotFound);
  EXPECT_EQ(c.Get("espeak", "x", Format::kWav).error().code, Errc::kUnknownEngine);

  Result<AudioBuffer> opus = c.Encode(wav);
  ASSERT_TRUE(opus.ok()) << opus.error().message;
  ExpectOpusinfoClean(opus->u8(), d.dir());
  Result<AudioBuffer> variant = c.Get("piper", "the lights are on.", Format::kOpus);
  ASSERT_TRUE(variant.ok());
  ExpectOpusinfoClean(variant->u8(), d.dir());
  Result<AudioBuffer> put_encoded = c.PutEncode("xtts", "One moment.", Tone(2));
  ASSERT_TRUE(put_encoded.ok()) << put_encoded.error().message;
  ExpectOpusinfoClean(put_encoded->u8(), d.dir());
  Result<AudioBuffer> stored_variant = c.Get("xtts", "one moment.", Format::kOpus);
  ASSERT_TRUE(stored_variant.ok());
  EXPECT_TRUE(stored_variant->mapped());
  EXPECT_EQ(ToVector(*stored_variant), ToVector(*put_encoded)) << "PUT_ENCODE stored its variant";

  // The zero-copy path: the WAV is written into shared memory, the daemon
  // reads it there and writes Opus back into it.
  ASSERT_TRUE(c.AttachArena(4 << 20).ok());
  std::vector<uint8_t> wav3 = Tone(3);
  std::memcpy(c.arena().data(), wav3.data(), wav3.size());
  ASSERT_TRUE(c.PutFromArena("xtts", "from the arena", 0, wav3.size()).ok());
  EXPECT_EQ(ToVector(c.Get("xtts", "from the arena", Format::kWav).value()), wav3);
  Result<uint64_t> opus_size = c.EncodeInArena(0, wav3.size(), 1 << 20, 1 << 20);
  ASSERT_TRUE(opus_size.ok()) << opus_size.error().message;
  ExpectOpusinfoClean(c.arena().subspan(1 << 20, *opus_size), d.dir());
  Result<uint64_t> too_small = c.EncodeInArena(0, wav3.size(), 1 << 20, 100);
  ASSERT_FALSE(too_small.ok());
  EXPECT_EQ(too_small.error().code, Errc::kBufferTooSmall);
  EXPECT_THAT(too_small.error().message, HasSubstr(std::to_string(*opus_size) + " needed"));
  EXPECT_EQ(c.EncodeInArena(0, wav3.size(), (4 << 20) - 10, 1 << 20).error().code,
            Errc::kInvalidArgument);

  // A buffer carved out of the arena by the Boost.Interprocess allocator: the
  // "TTS engine" writes its WAV there, the daemon stores it from there.
  Result<ArenaAllocator> made = ArenaAllocator::Create(c.arena().subspan(2 << 20));
  ASSERT_TRUE(made.ok()) << made.error().message;
  ArenaAllocator& allocator = *made;
  std::vector<uint8_t> wav4 = Tone(10);
  Result<std::span<uint8_t>> buffer = allocator.Allocate(wav4.size());
  ASSERT_TRUE(buffer.ok());
  std::memcpy(buffer->data(), wav4.data(), wav4.size());
  ASSERT_TRUE(
      c.PutFromArena("xtts", "carved", (2 << 20) + allocator.OffsetOf(*buffer), wav4.size()).ok());
  EXPECT_EQ(ToVector(c.Get("xtts", "carved", Format::kWav).value()), wav4);
  allocator.Free(*buffer);
  EXPECT_FALSE(allocator.Allocate(4 << 20).ok()) << "larger than the arena";

  ttscache::Stats stats = c.Stats().value();
  uint64_t entries = 0, puts = 0;
  for (auto& e : stats.engines) entries += e.entries, puts += e.puts;
  EXPECT_EQ(entries, 4u);
  EXPECT_EQ(puts, 4u);
  EXPECT_EQ(d.Stop(), 0) << d.log();
}

TEST(Daemon, AVariantIsEncodedOnceHoweverManyAskAtOnce) {
  DaemonProcess d(testing::Keys{{"workers", "2"}});
  ASSERT_TRUE(d.Start());
  ASSERT_TRUE(d.Connect().Put("piper", "shared", Tone(4, 3.0)).ok());
  const uint64_t encodes_before = d.Connect().Stats()->encodes;
  std::vector<std::vector<uint8_t>> results(16);
  std::vector<std::thread> threads;
  std::atomic<int> ready{0};
  for (size_t i = 0; i < results.size(); ++i) {
    threads.emplace_back([&, i] {
      Client c = d.Connect();
      ready++;
      while (ready < 16) std::this_thread::yield();
      Result<AudioBuffer> r = c.Get("piper", "shared", Format::kOpus, DaemonDefaultOpus(), i % 2);
      ASSERT_TRUE(r.ok()) << r.error().message;
      results[i] = ToVector(*r);
    });
  }
  for (auto& t : threads) t.join();
  for (auto& r : results) EXPECT_EQ(r, results[0]);
  ttscache::Stats stats = d.Connect().Stats().value();
  EXPECT_EQ(stats.encodes - encodes_before, 1u) << "one encode for 16 concurrent requests";
}

TEST(Daemon, PipelinedRepliesComeBackOutOfOrder) {
  DaemonProcess d;
  ASSERT_TRUE(d.Start());
  RawPeer peer(d.socket_path());
  ASSERT_TRUE(peer.connected);
  // A slow job (encode of 20 s) first, then a ping: the ping's reply overtakes.
  std::vector<uint8_t> wav = Tone(5, 20.0);
  ipc::EncodeRequest e{DaemonDefaultOpus(), {ipc::AudioPlace::kInline, wav, 0, 0}, {}};
  std::vector<uint8_t> frames = ipc::BuildFrame(5, 100, ipc::EncodeEncodeRequest(e));
  std::vector<uint8_t> ping = ipc::BuildFrame(2, 200, {});
  frames.insert(frames.end(), ping.begin(), ping.end());
  peer.Send(frames);
  auto [op1, id1, body1] = peer.Read();
  auto [op2, id2, body2] = peer.Read();
  EXPECT_EQ(id1, 200u);
  EXPECT_EQ(op1, 0x82);
  EXPECT_EQ(id2, 100u);
  EXPECT_EQ(op2, 0x85);
}

TEST(Daemon, SixtyFourClientsMixingOperations) {
  DaemonProcess d({{"queue_depth", "256"}}, {{"max_entries", "100000"}});
  ASSERT_TRUE(d.Start());
  std::vector<uint8_t> wav = Tone(6, 0.2);
  std::atomic<int> puts{0}, failures{0};
  // Distinct phrases each client stored: on a loaded machine a client may not
  // get through all five in the time, so the expected count is what was put.
  std::vector<std::set<std::string>> stored(64);
  std::vector<std::thread> threads;
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  for (int t = 0; t < 64; ++t) {
    threads.emplace_back([&, t] {
      Client c = d.Connect();
      for (int i = 0; std::chrono::steady_clock::now() < until; ++i) {
        // Four operations per phrase, the put first.
        const std::string text =
            "client " + std::to_string(t) + " phrase " + std::to_string(i / 4 % 5);
        switch (i % 4) {
          case 0:
            if (c.Put("xtts", text, wav)) {
              puts++;
              stored[t].insert(text);
            } else {
              failures++;
            }
            break;
          case 1: {
            Result<AudioBuffer> r = c.Get("xtts", text, Format::kWav);
            if (!r || ToVector(*r) != wav) failures++;
            break;
          }
          case 2:
            if (!c.Ping()) failures++;
            break;
          case 3:
            if (!c.Get("xtts", text, Format::kOpus, DaemonDefaultOpus(), t % 2)) failures++;
            break;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures, 0);
  ttscache::Stats stats = d.Connect().Stats().value();
  EXPECT_EQ(stats.engines[0].puts, static_cast<uint64_t>(puts.load()));
  uint64_t distinct = 0;
  for (const auto& texts : stored) distinct += texts.size();
  EXPECT_GE(distinct, 64u) << "every client stored at least one phrase";
  EXPECT_EQ(stats.engines[0].entries, distinct);
  EXPECT_EQ(stats.errors, 0u);
}

TEST(Daemon, HostilePeersNeverHurtOthers) {
  DaemonProcess d;
  ASSERT_TRUE(d.Start());
  Client good = d.Connect();
  std::vector<uint8_t> wav = Tone(7);
  ASSERT_TRUE(good.Put("piper", "good", wav).ok());
  auto still_fine = [&](const char* after) {
    Result<AudioBuffer> r = good.Get("piper", "good", Format::kWav);
    ASSERT_TRUE(r.ok()) << after << ": " << r.error().message;
    EXPECT_EQ(ToVector(*r), wav) << after;
  };
  {
    RawPeer p(d.socket_path());
    std::vector<uint8_t> junk(1000, 0xAB);
    p.Send(junk);
    auto [op, id, body] = p.Read();
    EXPECT_EQ(op, kError);
    EXPECT_THAT(ErrorOf(body).message, HasSubstr("bad magic"));
    still_fine("garbage");
  }
  {
    RawPeer p(d.socket_path());
    std::vector<uint8_t> frame = ipc::BuildFrame(4, 1, std::vector<uint8_t>(5000, 1));
    frame.resize(100);
    p.Send(frame);  // a truncated frame, then the peer leaves
    still_fine("truncated frame");
  }
  {
    RawPeer p(d.socket_path());
    uint8_t header[ipc::kHeaderSize];
    ipc::EncodeHeader({4, 0, 9, 0xFFFFFFF0u}, header);
    p.Send({header, sizeof(header)});
    auto [op, id, body] = p.Read();
    EXPECT_EQ(op, kError);
    EXPECT_EQ(ErrorOf(body).code, ipc::ErrorCode::kTooLarge);
    still_fine("huge declared length");
  }
  {
    RawPeer p(d.socket_path());
    ipc::PutRequest put{"piper", "x", {ipc::AudioPlace::kArena, {}, 1ull << 62, 1ull << 62}};
    p.Send(ipc::BuildFrame(4, 3, ipc::EncodePutRequest(put)));
    auto [op, id, body] = p.Read();
    EXPECT_EQ(op, kError);
    EXPECT_THAT(ErrorOf(body).message, HasSubstr("no arena"));
    still_fine("arena offsets without an arena");
  }
  {
    Client hostile = d.Connect();
    ASSERT_TRUE(hostile.AttachArena(1 << 16).ok());
    EXPECT_EQ(hostile.PutFromArena("piper", "x", (1 << 16) - 10, 100).error().code,
              Errc::kInvalidArgument);
    EXPECT_EQ(hostile.PutFromArena("piper", "x", UINT64_MAX - 5, 10).error().code,
              Errc::kInvalidArgument);
    still_fine("offsets past the arena");
  }
  auto arena_refused = [&](int fd, const char* why, const char* expected) {
    RawPeer p(d.socket_path());
    p.Send(ipc::BuildFrame(8, 4, ipc::EncodeArenaRequest(4096), ipc::kFlagFd), fd);
    auto [op, id, body] = p.Read();
    EXPECT_EQ(op, kError) << why;
    EXPECT_THAT(ErrorOf(body).message, HasSubstr(expected)) << why;
    still_fine(why);
  };
  {
    UniqueFd unsealed(memfd_create("x", MFD_CLOEXEC | MFD_ALLOW_SEALING));
    ASSERT_EQ(ftruncate(unsealed.get(), 4096), 0);
    arena_refused(unsealed.get(), "unsealed memfd", "F_SEAL_SHRINK");
    const std::string file = d.dir() + "/regular";
    std::ofstream(file) << std::string(4096, 'x');
    UniqueFd regular(open(file.c_str(), O_RDWR | O_CLOEXEC));
    arena_refused(regular.get(), "regular file", "not a memfd");
    int pair[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, pair), 0);
    arena_refused(pair[0], "socket", "not a memfd");
    close(pair[0]);
    close(pair[1]);
  }
  {
    RawPeer p(d.socket_path());
    UniqueFd a(memfd_create("a", MFD_CLOEXEC)), b(memfd_create("b", MFD_CLOEXEC));
    p.Send(ipc::BuildFrame(8, 5, ipc::EncodeArenaRequest(4096), ipc::kFlagFd), a.get(), b.get());
    auto [op, id, body] = p.Read();
    EXPECT_EQ(op, kError);
    EXPECT_THAT(ErrorOf(body).message, HasSubstr("descriptors"));
    still_fine("two descriptors");
  }
  {
    RawPeer p(d.socket_path());
    UniqueFd a(memfd_create("a", MFD_CLOEXEC));
    p.Send(ipc::BuildFrame(2, 6, {}, ipc::kFlagFd), a.get());  // a PING with a descriptor
    auto [op, id, body] = p.Read();
    EXPECT_EQ(op, kError);
    EXPECT_THAT(ErrorOf(body).message, HasSubstr("takes none"));
    still_fine("descriptor on a ping");
  }
  {
    // Never reads its replies: asks for the inline WAV again and again.
    RawPeer p(d.socket_path());
    ipc::GetRequest g{
        "piper", "good", ipc::AudioFormat::kWav, DaemonDefaultOpus(), ipc::Delivery::kInline, {}};
    std::vector<uint8_t> one = ipc::BuildFrame(3, 7, ipc::EncodeGetRequest(g));
    std::vector<uint8_t> many;
    for (int i = 0; i < 2000; ++i) many.insert(many.end(), one.begin(), one.end());
    std::thread sender([&] { p.Send(many); });
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    still_fine("a peer that never reads");
    shutdown(p.fd.get(), SHUT_RDWR);
    sender.join();
  }
  {
    RawPeer p(d.socket_path());
    ipc::PutRequest put{"piper", "mid", {ipc::AudioPlace::kInline, wav, 0, 0}};
    std::vector<uint8_t> frame = ipc::BuildFrame(4, 8, ipc::EncodePutRequest(put));
    frame.resize(frame.size() / 2);
    p.Send(frame);  // and vanishes mid-request
  }
  still_fine("disconnect mid-request");
  EXPECT_EQ(good.Get("piper", "mid", Format::kWav).error().code, Errc::kNotFound)
      << "half a request stores nothing";
  EXPECT_EQ(d.Stop(), 0) << d.log();
}

TEST(Daemon, RefusesPeersOutsideTheAllowedIds) {
  DaemonProcess d(testing::Keys{{"allowed_uids", "4242"}, {"socket_mode", "0666"}});
  ASSERT_TRUE(d.Start());
  EXPECT_TRUE(d.Connect().Ping().ok()) << "the daemon's own user is always allowed";
  if (getuid() != 0) GTEST_SKIP() << "needs root to connect as another user";
  fs::permissions(d.dir(), fs::perms(0755));  // let the other user reach the socket
  pid_t child = fork();
  if (child == 0) {
    if (setgid(65534) != 0 || setuid(65534) != 0) _exit(10);
    RawPeer p(d.socket_path());
    if (!p.connected) _exit(11);
    p.Send(ipc::BuildFrame(2, 1, {}));
    auto [op, id, body] = p.Read();
    if (op != kError) _exit(12);
    if (ErrorOf(body).code != ipc::ErrorCode::kForbidden) _exit(13);
    // Through libttscache the refusal is FORBIDDEN with the daemon's reason,
    // not "cannot connect", however the close races the request.
    for (int i = 0; i < 20; ++i) {
      Result<Client> c = Client::Connect({d.socket_path(), 5000});
      if (!c) _exit(14);
      Status ping = c->Ping();
      if (ping.ok() || ping.error().code != Errc::kForbidden) _exit(15);
      if (ping.error().message.find("uid 65534") == std::string::npos) _exit(16);
    }
    _exit(0);
  }
  int status = 0;
  waitpid(child, &status, 0);
  EXPECT_EQ(WEXITSTATUS(status), 0) << "nobody was not refused with FORBIDDEN (exit code = step)";
  EXPECT_EQ(fs::status(d.socket_path()).permissions() & fs::perms::all, fs::perms(0666));
}

TEST(Daemon, SocketModeAndGroupAreTheConfiguredOnes) {
  DaemonProcess d(testing::Keys{{"socket_mode", "0640"}, {"socket_group", "daemon"}});
  ASSERT_TRUE(d.Start()) << d.log();
  struct stat st;
  ASSERT_EQ(stat(d.socket_path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);
  EXPECT_EQ(st.st_gid, getgrnam("daemon")->gr_gid);
}

TEST(Daemon, WorkersRunOnTheirConfiguredCpus) {
  std::vector<int> cpus;
  cpu_set_t set;
  sched_getaffinity(0, sizeof(set), &set);
  for (int i = 0; i < CPU_SETSIZE; ++i) {
    if (CPU_ISSET(i, &set)) cpus.push_back(i);
  }
  std::string list;
  for (int c : cpus) list += (list.empty() ? "" : ",") + std::to_string(c);
  DaemonProcess d(testing::Keys{{"cpus", list}, {"workers", "4"}});
  ASSERT_TRUE(d.Start());
  // Workers name and pin themselves as they start, which may be just after
  // the daemon answers its first ping: look again until all four have.
  auto check = [&](std::string* wrong) {
    int workers = 0;
    wrong->clear();
    for (const auto& task : fs::directory_iterator("/proc/" + std::to_string(d.pid()) + "/task")) {
      std::ifstream comm(task.path() / "comm");
      std::string name;
      std::getline(comm, name);
      if (!name.starts_with("ttscache-w")) continue;
      ++workers;
      const int index = std::stoi(name.substr(10));
      std::ifstream status(task.path() / "status");
      std::string line, allowed;
      while (std::getline(status, line)) {
        if (line.starts_with("Cpus_allowed_list:"))
          allowed = line.substr(line.find_first_not_of(" \t", 18));
      }
      const std::string expected = std::to_string(cpus[static_cast<size_t>(index) % cpus.size()]);
      if (allowed != expected) *wrong += name + " on " + allowed + ", expected " + expected + "; ";
    }
    return workers;
  };
  std::string wrong;
  int workers = 0;
  for (int attempt = 0; attempt < 100; ++attempt) {
    workers = check(&wrong);
    if (workers == 4 && wrong.empty()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(workers, 4);
  EXPECT_EQ(wrong, "");
}

TEST(Daemon, ReadyIsNotifiedOnlyOnceTheSocketAccepts) {
  DaemonProcess d;
  const std::string notify = d.dir() + "/notify.sock";
  UniqueFd harness(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::memcpy(a.sun_path, notify.data(), notify.size());
  ASSERT_EQ(bind(harness.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  timeval tv{10, 0};
  setsockopt(harness.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ASSERT_TRUE(d.Start({"NOTIFY_SOCKET=" + notify}, {}, false));
  std::string messages;
  while (messages.find("READY=1") == std::string::npos) {
    char buf[4096];
    ssize_t n = recv(harness.get(), buf, sizeof(buf), 0);
    ASSERT_GT(n, 0) << "no READY=1 within 10 s";
    messages.append(buf, static_cast<size_t>(n));
    messages += '\n';
  }
  Result<Client> c = Client::Connect({d.socket_path(), 2000});
  ASSERT_TRUE(c.ok()) << "READY=1 came before the socket accepted";
  EXPECT_TRUE(c->Ping().ok());
  EXPECT_EQ(d.Stop(), 0);
  char buf[4096];
  std::string after;
  for (ssize_t n; (n = recv(harness.get(), buf, sizeof(buf), MSG_DONTWAIT)) > 0;)
    after.append(buf, n);
  EXPECT_THAT(after, HasSubstr("STOPPING=1"));
}

TEST(Daemon, StartsThroughSocketActivation) {
  if (system("command -v systemd-socket-activate > /dev/null") != 0) {
    GTEST_SKIP() << "systemd-socket-activate not installed";
  }
  DaemonProcess d;
  ASSERT_TRUE(d.Start({}, {"systemd-socket-activate", "-l", d.socket_path()}));
  EXPECT_TRUE(d.Connect().Ping().ok());
  EXPECT_EQ(d.Stop(), 0);
  EXPECT_THAT(d.log(), HasSubstr("socket activation"));
}

TEST(Daemon, SigtermUnderLoadLosesNoAcknowledgedEntry) {
  DaemonProcess d({}, {{"max_entries", "100000"}, {"fsync", "true"}});
  ASSERT_TRUE(d.Start()) << d.log();
  std::vector<uint8_t> wav = Tone(8, 0.1);
  std::mutex mu;
  std::vector<std::string> acked;
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      Result<Client> c = Client::Connect({d.socket_path(), 5000});
      if (!c) return;
      for (int i = 0; !stop; ++i) {
        std::string text = "load " + std::to_string(t) + " " + std::to_string(i);
        if (!c->Put("xtts", text, wav)) break;  // the daemon is going away
        std::lock_guard lock(mu);
        acked.push_back(text);
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_EQ(d.Stop(SIGTERM), 0) << d.log();
  stop = true;
  for (auto& t : threads) t.join();
  ASSERT_FALSE(acked.empty());
  ASSERT_TRUE(d.Start()) << d.log();
  EXPECT_THAT(d.log(), ::testing::Not(HasSubstr("not closed cleanly")));
  Client c = d.Connect();
  for (const std::string& text : acked) {
    Result<AudioBuffer> r = c.Get("xtts", text, Format::kWav);
    ASSERT_TRUE(r.ok()) << "acknowledged entry lost: " << text;
    EXPECT_EQ(ToVector(*r), wav);
  }
}

TEST(Daemon, SighupChangesTheBitrateOfLaterEncodes) {
  DaemonProcess d({}, {}, {{"bitrate_kbps", "16"}});
  ASSERT_TRUE(d.Start());
  std::vector<uint8_t> wav = Tone(9, 4.0, 48000);
  const size_t low = d.Connect().Encode(wav)->size();
  d.opus_keys()["bitrate_kbps"] = "96";
  d.WriteConfig();
  d.Signal(SIGHUP);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const size_t high = d.Connect().Encode(wav)->size();
  EXPECT_GT(high, low * 3) << "16 kb/s gave " << low << " bytes, 96 kb/s " << high;
  EXPECT_THAT(d.log(), HasSubstr("reload: opus b96"));
}

TEST(Daemon, ASecondDaemonOnTheSameCacheIsRefused) {
  DaemonProcess first;
  ASSERT_TRUE(first.Start());
  // Same cache dir, another socket: the dir lock must stop it.
  std::ifstream in(first.config_path());
  std::string config((std::istreambuf_iterator<char>(in)), {});
  config.replace(config.find("ttscached.sock"), 14, "second.sock");
  const std::string second_config = first.dir() + "/second.conf";
  std::ofstream(second_config) << config;
  FILE* p = popen(
      (std::string(TTSCACHE_DAEMON_PATH) + " --config " + second_config + " 2>&1").c_str(), "r");
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  int status = pclose(p);
  EXPECT_EQ(WEXITSTATUS(status), 75);
  EXPECT_THAT(out, HasSubstr("in use by pid " + std::to_string(first.pid())));
}

}  // namespace
}  // namespace ttscache

namespace ttscache {
namespace {

// Crash consistency: put/encode storms from several clients, SIGKILL at a
// random moment, restart; every acknowledged entry is present and
// byte-equal, nothing is served truncated, and the index agrees with the
// folder. Rounds: $TTSCACHE_CRASH_ROUNDS (default 50, as issue 8 asks).
TEST(DaemonCrash, KillAndRestartLosesNoAcknowledgedEntry) {
  const char* env = std::getenv("TTSCACHE_CRASH_ROUNDS");
  const int rounds = env ? std::atoi(env) : 50;
  DaemonProcess d({}, {{"max_entries", "100000"}, {"fsync", "true"}});
  std::mt19937 rng(12345);
  std::map<std::string, int> acked;  // text → seed of its WAV
  uint64_t kills = 0, losses = 0, truncated = 0;
  for (int round = 0; round < rounds; ++round) {
    ASSERT_TRUE(d.Start()) << d.log();
    // Everything acknowledged so far is there, complete and byte-equal.
    {
      Client c = d.Connect();
      for (const auto& [text, seed] : acked) {
        Result<AudioBuffer> r = c.Get("xtts", text, Format::kWav);
        if (!r) {
          ++losses;
          ADD_FAILURE() << "round " << round << ": lost " << text;
          continue;
        }
        if (!ParseWav(r->u8()).ok()) ++truncated;
        EXPECT_EQ(ToVector(*r), Tone(seed, 0.05)) << text;
      }
      ttscache::Stats stats = c.Stats().value();
      uint64_t wavs = 0;
      for (const auto& f : fs::directory_iterator(d.cache_dir() + "/xtts")) {
        if (f.path().extension() == ".wav") ++wavs;
        EXPECT_FALSE(f.path().filename().string().starts_with(".tmp-")) << "temporary survived";
      }
      EXPECT_EQ(stats.engines[0].entries, wavs) << "index and folder disagree in round " << round;
    }
    std::mutex mu;
    std::atomic<bool> stop{false};
    std::vector<std::thread> clients;
    for (int t = 0; t < 4; ++t) {
      clients.emplace_back([&, t] {
        Result<Client> c = Client::Connect({d.socket_path(), 2000});
        if (!c) return;
        for (int i = 0; !stop; ++i) {
          const int seed = (round * 7 + t * 3 + i) % 50;
          const std::string text =
              "r" + std::to_string(round) + " t" + std::to_string(t) + " " + std::to_string(i);
          Status s = i % 3 == 2 ? Status(c->PutEncode("xtts", text, Tone(seed, 0.05)).ok()
                                             ? Status()
                                             : Status(MakeError(Errc::kIo, "failed")))
                                : c->Put("xtts", text, Tone(seed, 0.05));
          if (!s) return;  // killed
          std::lock_guard lock(mu);
          acked[text] = seed;
        }
      });
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50 + rng() % 400));
    EXPECT_EQ(d.Stop(SIGKILL), -SIGKILL);
    ++kills;
    stop = true;
    for (auto& t : clients) t.join();
  }
  ASSERT_TRUE(d.Start());
  Client c = d.Connect();
  for (const auto& [text, seed] : acked) {
    if (!c.Get("xtts", text, Format::kWav).ok()) ++losses;
  }
  std::printf(
      "crash loop: %d rounds, %llu kills, %zu acknowledged entries, %llu lost, %llu truncated\n",
      rounds, static_cast<unsigned long long>(kills), acked.size(),
      static_cast<unsigned long long>(losses), static_cast<unsigned long long>(truncated));
  EXPECT_EQ(losses, 0u);
  EXPECT_EQ(truncated, 0u);
  EXPECT_GT(acked.size(), static_cast<size_t>(rounds));
}

}  // namespace
}  // namespace ttscache

namespace ttscache {
namespace {

TEST(DaemonFaults, ADeletedSocketFileIsRecreated) {
  DaemonProcess d;
  ASSERT_TRUE(d.Start());
  Client before = d.Connect();
  ASSERT_EQ(unlink(d.socket_path().c_str()), 0);
  EXPECT_TRUE(before.Ping().ok()) << "existing clients keep working";
  bool reconnected = false;
  for (int i = 0; i < 40 && !reconnected; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    Result<Client> c = Client::Connect({d.socket_path(), 1000});
    reconnected = c.ok() && c->Ping().ok();
  }
  EXPECT_TRUE(reconnected) << d.log();
  EXPECT_THAT(d.log(), HasSubstr("was deleted; recreated it"));
}

TEST(DaemonFaults, MoreClientsThanDescriptorsGetBusyNotASpin) {
  if (system("command -v prlimit > /dev/null") != 0) GTEST_SKIP() << "prlimit not installed";
  DaemonProcess d;
  ASSERT_TRUE(d.Start({}, {"prlimit", "--nofile=128:128"}));
  std::vector<std::unique_ptr<RawPeer>> peers;
  int busy = 0, served = 0;
  for (int i = 0; i < 80; ++i) {
    auto p = std::make_unique<RawPeer>(d.socket_path());
    p->Send(ipc::BuildFrame(2, static_cast<uint64_t>(i), {}));
    auto [op, id, body] = p->Read();
    if (op == 0x82) {
      ++served;
      peers.push_back(std::move(p));  // keep it open, holding a descriptor
    } else if (op == kError && ErrorOf(body).code == ipc::ErrorCode::kBusy) {
      ++busy;
    }
  }
  EXPECT_GT(served, 10);
  EXPECT_GT(busy, 0) << "the limit was never reached";
  EXPECT_EQ(served + busy, 80) << "every client got an answer";
  peers.clear();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_TRUE(d.Connect().Ping().ok()) << "clients are served again once others leave";
  // Refused at the connection cap the descriptor limit sets, before the
  // limit itself is reached (docs/reliability.md).
  EXPECT_THAT(d.log(), HasSubstr("its maximum (max_connections, RLIMIT_NOFILE)"));
}

class TmpfsCache : public ::testing::Test {
 protected:
  void MountCache(DaemonProcess& d, const char* size) {
    fs::create_directories(d.cache_dir());
    if (mount("tmpfs", d.cache_dir().c_str(), "tmpfs", 0, size) != 0) {
      GTEST_SKIP() << "cannot mount a tmpfs here (needs root): " << strerror(errno);
    }
    mounted_ = d.cache_dir();
  }
  void TearDown() override {
    if (!mounted_.empty()) umount2(mounted_.c_str(), MNT_DETACH);
  }
  std::string mounted_;
};

// A cache folder that cannot be written: root ignores permission bits and a
// read-only remount is refused while the index is mapped writable, so the
// folder is made immutable (chattr +i), which stops root too.
TEST(DaemonFaults, AnUnwritableCacheFolderFailsPutsAndKeepsServingHits) {
  DaemonProcess d;
  ASSERT_TRUE(d.Start()) << d.log();
  Client c = d.Connect();
  std::vector<uint8_t> wav = Tone(11);
  ASSERT_TRUE(c.Put("piper", "before", wav).ok());
  const std::string folder = d.cache_dir() + "/piper";
  if (system(("chattr +i " + folder + " 2> /dev/null").c_str()) != 0) {
    GTEST_SKIP() << "chattr +i is not supported here";
  }
  Status s = c.Put("piper", "after", wav);
  Result<AudioBuffer> hit = c.Get("piper", "before", Format::kWav);
  Status other_engine = c.Put("xtts", "elsewhere", wav);
  ASSERT_EQ(system(("chattr -i " + folder).c_str()), 0);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.error().message, HasSubstr("Operation not permitted"));
  EXPECT_THAT(s.error().message, HasSubstr(folder));
  ASSERT_TRUE(hit.ok());
  EXPECT_EQ(ToVector(*hit), wav);
  EXPECT_TRUE(other_engine.ok()) << "the other engine's folder is writable";
  EXPECT_EQ(c.Get("piper", "after", Format::kWav).error().code, Errc::kNotFound);
  EXPECT_TRUE(c.Put("piper", "after", wav).ok()) << "writable again";
}

TEST_F(TmpfsCache, DiskFullDuringAVariantEncodeStillAnswersWithTheAudio) {
  DaemonProcess d;
  MountCache(d, "size=2m");
  ASSERT_TRUE(d.Start()) << d.log();
  Client c = d.Connect();
  ASSERT_TRUE(c.Put("piper", "long phrase", Tone(12, 4.0)).ok());
  // Fill what is left of the disk.
  {
    std::ofstream filler(d.cache_dir() + "/filler", std::ios::binary);
    std::vector<char> block(64 << 10, 'x');
    while (filler.write(block.data(), static_cast<long>(block.size()))) {
    }
  }
  Result<AudioBuffer> opus = c.Get("piper", "long phrase", Format::kOpus);
  ASSERT_TRUE(opus.ok()) << opus.error().message;
  ExpectOpusinfoClean(opus->u8(), d.dir());
  for (const auto& f : fs::directory_iterator(d.cache_dir() + "/piper")) {
    EXPECT_FALSE(f.path().filename().string().starts_with(".tmp-")) << "partial file left";
    EXPECT_NE(f.path().extension(), ".opus") << "a variant was stored on a full disk?";
  }
  EXPECT_THAT(d.log(), HasSubstr("No space left on device"));
  fs::remove(d.cache_dir() + "/filler");
  EXPECT_TRUE(c.Put("piper", "after space returns", Tone(13)).ok());
}

}  // namespace
}  // namespace ttscache

namespace ttscache {
namespace {

// No engine or text reaches outside the cache folder: engines are names from
// the config (never paths) and file names are hex digests of the text.
TEST(DaemonFaults, NoEngineOrTextReachesOutsideTheCacheFolder) {
  DaemonProcess d;
  ASSERT_TRUE(d.Start());
  Client c = d.Connect();
  std::vector<uint8_t> wav = Tone(14);
  for (const char* engine : {"../etc", "piper/../../x", "/tmp", "", ".", "PIPER", "piper\n"}) {
    Status s = c.Put(engine, "hello", wav);
    ASSERT_FALSE(s.ok()) << engine;
    EXPECT_EQ(s.error().code, Errc::kUnknownEngine) << engine;
  }
  for (std::string text : {std::string("../../../../tmp/escape"), std::string("a/b\0c", 5),
                           std::string(4096, '/'), std::string("..")}) {
    ASSERT_TRUE(c.Put("piper", text, wav).ok());
    EXPECT_TRUE(c.Get("piper", text, Format::kWav).ok());
  }
  EXPECT_EQ(c.Put("piper", std::string(4097, 'a'), wav).error().code, Errc::kTooLarge);
  // Everything the daemon wrote is in the cache folder, under an engine, named by a digest.
  std::set<std::string> outside;
  for (const auto& f : fs::recursive_directory_iterator(d.dir())) {
    const std::string rel = fs::relative(f.path(), d.dir()).string();
    if (rel == "cache" || rel == "ttscached.sock" || rel == "ttscached.conf" || rel == "daemon.log")
      continue;
    if (rel.starts_with("cache/")) {
      const std::string inside = rel.substr(6);
      bool ok = inside == ".ttscache-index" || inside == ".ttscache-lock" || inside == "piper" ||
                inside == "xtts" ||
                ((inside.starts_with("piper/") || inside.starts_with("xtts/")) &&
                 inside.find('/') == inside.rfind('/') && inside.ends_with(".wav") &&
                 inside.size() - inside.find('/') - 1 == 68);
      if (ok) continue;
    }
    outside.insert(rel);
  }
  EXPECT_TRUE(outside.empty()) << "unexpected file: " << *outside.begin();
  EXPECT_FALSE(fs::exists("/tmp/escape.wav"));
}

}  // namespace
}  // namespace ttscache
