// ttscached end to end, its life as a service: who may connect, the socket's
// mode and group, workers on their CPUs, READY= only once the socket accepts,
// socket activation, SIGHUP reloads, and a second daemon on the same cache.
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

#include "tests/e2e/daemon_e2e_helpers.hpp"

namespace ttscache {
namespace {

namespace fs = std::filesystem;
using e2e::ErrorOf;
using e2e::kError;
using e2e::Tone;
using testing::DaemonProcess;
using ::testing::HasSubstr;
using testing::RawPeer;

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
