// Test support: a real ttscached process on a private socket and cache dir,
// started from the built binary with a config the test writes, and stopped
// with SIGTERM. Header-only.
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/unique_fd.hpp"
#include "tests/support/temp_dir.hpp"
#include "ttscache/client.hpp"

namespace ttscache::testing {

using Keys = std::map<std::string, std::string>;

// CPU time (user + system) process `pid` has used, in seconds.
inline double CpuSeconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), {});
  // Fields after the command name, which may hold spaces, start after ')'.
  std::istringstream fields(stat.substr(stat.rfind(')') + 2));
  std::string field;
  long utime = 0, stime = 0;
  for (int i = 3; fields >> field; ++i) {
    if (i == 14) utime = std::stol(field);
    if (i == 15) {
      stime = std::stol(field);
      break;
    }
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

class DaemonProcess {
 public:
  // Extra keys per section; the socket and cache dir are always the test's own.
  explicit DaemonProcess(std::map<std::string, std::string> daemon_keys = {},
                         std::map<std::string, std::string> cache_keys = {},
                         std::map<std::string, std::string> opus_keys = {})
      : daemon_keys_(std::move(daemon_keys)),
        cache_keys_(std::move(cache_keys)),
        opus_keys_(std::move(opus_keys)) {
    WriteConfig();
  }
  ~DaemonProcess() { Kill(); }

  void WriteConfig() {
    std::ofstream c(config_path());
    c << "[daemon]\nsocket = " << socket_path() << "\n";
    for (auto& [k, v] : daemon_keys_) c << k << " = " << v << "\n";
    c << "[cache]\ndir = " << dir_.path() << "/cache\n";
    if (!cache_keys_.count("fsync")) c << "fsync = false\n";  // fast by default
    for (auto& [k, v] : cache_keys_) c << k << " = " << v << "\n";
    c << "[opus]\n";
    for (auto& [k, v] : opus_keys_) c << k << " = " << v << "\n";
    c << "[stream]\n";
    for (auto& [k, v] : stream_keys_) c << k << " = " << v << "\n";
    if (!tier_keys_.empty()) c << "[tier]\n";
    for (auto& [k, v] : tier_keys_) c << k << " = " << v << "\n";
  }
  std::map<std::string, std::string>& daemon_keys() { return daemon_keys_; }
  std::map<std::string, std::string>& opus_keys() { return opus_keys_; }
  std::map<std::string, std::string>& stream_keys() { return stream_keys_; }
  // [tier] (docs/fleet.md): written only when not empty.
  std::map<std::string, std::string>& tier_keys() { return tier_keys_; }

  // Starts the daemon (optionally through a wrapper such as
  // systemd-socket-activate) and waits until it answers a ping.
  bool Start(std::vector<std::string> env = {}, std::vector<std::string> wrapper = {},
             bool wait_ready = true) {
    pid_ = fork();
    if (pid_ == 0) {
      for (std::string& e : env) putenv(e.data());
      std::vector<std::string> argv = wrapper;
      // TTSCACHE_TEST_DAEMON runs the tests against another build of the
      // daemon (to show a regression test fails on the code before a fix).
      const char* daemon = getenv("TTSCACHE_TEST_DAEMON");
      argv.push_back(daemon ? daemon : TTSCACHE_DAEMON_PATH);
      argv.push_back("--config");
      argv.push_back(config_path());
      std::vector<char*> args;
      for (std::string& a : argv) args.push_back(a.data());
      args.push_back(nullptr);
      std::string log = dir_.path() + "/daemon.log";
      FILE* f = freopen(log.c_str(), "a", stderr);
      (void)f;
      execvp(args[0], args.data());
      _exit(127);
    }
    if (!wait_ready) return true;
    for (int i = 0; i < 200; ++i) {
      auto c = Client::Connect({socket_path(), 2000});
      if (c && c->Ping()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    return false;
  }

  // SIGTERM and wait; returns the exit status (or -signal).
  int Stop(int signal = SIGTERM) {
    if (pid_ <= 0) return -1;
    kill(pid_, signal);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
  }
  void Kill() {
    if (pid_ > 0) Stop(SIGKILL);
  }
  void Signal(int s) { kill(pid_, s); }

  pid_t pid() const { return pid_; }
  std::string socket_path() const { return dir_.path() + "/ttscached.sock"; }
  std::string config_path() const { return dir_.path() + "/ttscached.conf"; }
  std::string cache_dir() const { return dir_.path() + "/cache"; }
  std::string log() const {
    std::ifstream in(dir_.path() + "/daemon.log");
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  const std::string& dir() const { return dir_.path(); }

  Client Connect() { return Client::Connect({socket_path(), 10000}).value(); }

 private:
  TempDir dir_;
  std::map<std::string, std::string> daemon_keys_, cache_keys_, opus_keys_, stream_keys_,
      tier_keys_;
  pid_t pid_ = -1;
};

}  // namespace ttscache::testing
