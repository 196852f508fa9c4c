// OpenListenSocket binding its own socket (no systemd): the configured mode
// and group, a stale file replaced, a live one refused, nothing left beside
// it, and the process umask never changed while it works: the daemon calls it
// again at run time (the socket file was deleted) while workers create cache
// files, and a file created under a borrowed umask of 0777 has mode 0000.
#include "daemon/listen_socket.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "tests/support/temp_dir.hpp"

namespace ttscache {
namespace {

DaemonSettings Settings(const std::string& path) {
  DaemonSettings s;
  s.socket = path;
  s.socket_mode = 0620;
  s.socket_group = std::to_string(::getgid());
  return s;
}

bool Connects(const std::string& path) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  return ::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
}

std::vector<std::string> Entries(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    names.push_back(e.path().filename());
  }
  return names;
}

// The "Umask:" line of /proc/self/status, e.g. "0022".
std::string CurrentUmask() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.starts_with("Umask:")) return line.substr(line.find_first_not_of(" \t", 6));
  }
  return "?";
}

TEST(ListenSocket, BindsWithTheConfiguredModeAndGroupAndLeavesNothingBeside) {
  testing::TempDir dir;
  std::string path = dir.path() + "/d.sock";
  Result<ListenSocket> s = OpenListenSocket(Settings(path));
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_FALSE(s->activated);
  EXPECT_EQ(s->path, path);
  struct stat st;
  ASSERT_EQ(::lstat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0620u);
  EXPECT_EQ(st.st_gid, ::getgid());
  EXPECT_TRUE(Connects(path));
  EXPECT_EQ(Entries(dir.path()), std::vector<std::string>{"d.sock"});
}

TEST(ListenSocket, ReplacesAStaleSocketAndRefusesALiveOne) {
  testing::TempDir dir;
  std::string path = dir.path() + "/d.sock";
  {
    Result<ListenSocket> first = OpenListenSocket(Settings(path));
    ASSERT_TRUE(first.ok()) << first.error().message;
  }  // closed, file left behind: stale
  ASSERT_FALSE(Connects(path));
  Result<ListenSocket> second = OpenListenSocket(Settings(path));
  ASSERT_TRUE(second.ok()) << second.error().message;
  EXPECT_TRUE(Connects(path));
  Result<ListenSocket> third = OpenListenSocket(Settings(path));
  ASSERT_FALSE(third.ok());
  EXPECT_EQ(third.error().code, Errc::kLocked) << third.error().message;
  EXPECT_EQ(Entries(dir.path()), std::vector<std::string>{"d.sock"});
}

TEST(ListenSocket, RefusesAPathThatIsNotASocketAndLeavesIt) {
  testing::TempDir dir;
  std::string path = dir.path() + "/d.sock";
  std::ofstream(path) << "not a socket";
  Result<ListenSocket> s = OpenListenSocket(Settings(path));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(Entries(dir.path()), std::vector<std::string>{"d.sock"});
}

// A worker creating files while the event loop recreates a deleted socket:
// every file gets the mode the umask allows, never 0000.
TEST(ListenSocket, RecreatingTheSocketNeverChangesTheProcessUmask) {
  testing::TempDir dir;
  std::string path = dir.path() + "/d.sock";
  std::string files = dir.path() + "/files";
  ASSERT_EQ(::mkdir(files.c_str(), 0700), 0);
  const std::string umask_before = CurrentUmask();
  std::atomic<bool> done = false;
  std::atomic<int> created = 0, bad_modes = 0, umask_changes = 0;
  std::thread worker([&] {
    std::string file = files + "/entry";
    while (!done) {
      UniqueFd fd(::open(file.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0640));
      if (fd.valid()) {
        struct stat st;
        if (::fstat(fd.get(), &st) == 0 && (st.st_mode & 0777) == 0) ++bad_modes;
        ++created;
        ::unlink(file.c_str());
      }
      if (CurrentUmask() != umask_before) ++umask_changes;
    }
  });
  for (int round = 0; round < 500 && bad_modes == 0 && umask_changes == 0; ++round) {
    ::unlink(path.c_str());
    Result<ListenSocket> s = OpenListenSocket(Settings(path));
    ASSERT_TRUE(s.ok()) << s.error().message;
  }
  done = true;
  worker.join();
  EXPECT_GT(created, 0);
  EXPECT_EQ(bad_modes, 0) << "files created with mode 0000 while the socket was bound";
  EXPECT_EQ(umask_changes, 0) << "the process umask changed while the socket was bound";
  EXPECT_EQ(CurrentUmask(), umask_before);
}

}  // namespace
}  // namespace ttscache
