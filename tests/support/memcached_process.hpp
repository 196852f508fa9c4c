// Test support: a real memcached (/usr/bin/memcached) on a free loopback TCP
// port or on a Unix socket, for the fleet tier's tests — started, killed
// (SIGKILL, as a crashed server), stopped and restarted on the same address.
// Optionally with SASL (-S, binary protocol only): a sasldb made with
// saslpasswd2 in a private dir that SASL_CONF_PATH names. Header-only; one
// object per server; the destructor kills it. Not thread-safe.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "core/unique_fd.hpp"
#include "tests/support/temp_dir.hpp"

namespace ttscache::testing {

struct MemcachedOptions {
  bool unix_socket = false;          // listen on dir()/memcached.sock instead of TCP
  std::string max_item_size = "1m";  // -I: the largest value it stores (≥ 512k)
  // Non-empty: SASL required (-S), with this one user and password.
  std::string sasl_user, sasl_password;
};

class MemcachedProcess {
 public:
  explicit MemcachedProcess(MemcachedOptions options = {}) : options_(std::move(options)) {
    if (!options_.sasl_user.empty()) WriteSaslConfig();
  }
  ~MemcachedProcess() { Kill(); }
  MemcachedProcess(const MemcachedProcess&) = delete;
  MemcachedProcess& operator=(const MemcachedProcess&) = delete;

  // Starts it (on a new free port the first time, the same one after) and
  // waits until it accepts connections. False if it never did.
  bool Start() {
    for (int attempt = 0; attempt < 5; ++attempt) {
      if (!options_.unix_socket && port_ == 0) port_ = FreePort();
      if (Spawn() && WaitAccepting()) return true;
      Kill();
      if (!fixed_port_) port_ = 0;  // someone took it meanwhile: another
    }
    return false;
  }
  // Started again on the same address (after Kill or Stop).
  bool Restart() {
    Kill();
    fixed_port_ = true;
    return Start();
  }
  // SIGKILL, as a crash: connections reset, nothing flushed.
  void Kill() { Signal(SIGKILL); }
  // SIGTERM: memcached's orderly exit.
  void Stop() { Signal(SIGTERM); }

  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  int port() const { return port_; }
  std::string socket_path() const { return dir_.path() + "/memcached.sock"; }
  const std::string& dir() const { return dir_.path(); }
  // "127.0.0.1:port" or the socket's path: as [tier] servers spells it.
  std::string address() const {
    return options_.unix_socket ? socket_path() : "127.0.0.1:" + std::to_string(port_);
  }

  // A loopback port nothing listens on now (bound, read, released).
  static int FreePort() {
    UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return 0;
    socklen_t len = sizeof addr;
    getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len);
    return ntohs(addr.sin_port);
  }

 private:
  void Signal(int signal) {
    if (pid_ <= 0) return;
    kill(pid_, signal);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
  }

  bool Spawn() {
    std::vector<std::string> argv = {"/usr/bin/memcached",  "-U", "0", "-m", "64", "-t", "1", "-I",
                                     options_.max_item_size};
    if (options_.unix_socket) {
      unlink(socket_path().c_str());
      argv.insert(argv.end(), {"-s", socket_path(), "-a", "0600"});
    } else {
      argv.insert(argv.end(), {"-l", "127.0.0.1", "-p", std::to_string(port_)});
    }
    if (!options_.sasl_user.empty()) argv.push_back("-S");
    // memcached refuses to run as root unless told which user to be.
    if (geteuid() == 0) argv.insert(argv.end(), {"-u", "root"});
    const std::string sasl_env = "SASL_CONF_PATH=" + dir_.path();
    const std::string log = dir_.path() + "/memcached.log";
    pid_ = fork();
    if (pid_ < 0) return false;
    if (pid_ == 0) {
      if (!options_.sasl_user.empty()) putenv(const_cast<char*>(sasl_env.c_str()));
      // Its output to a log, never the test's pipes: a server outliving a
      // killed test must not hold the runner's stdout open.
      if (!freopen(log.c_str(), "a", stderr) || !freopen(log.c_str(), "a", stdout)) _exit(126);
      std::vector<char*> args;
      for (std::string& a : argv) args.push_back(a.data());
      args.push_back(nullptr);
      execv(args[0], args.data());
      _exit(127);
    }
    return true;
  }

  bool WaitAccepting() {
    for (int i = 0; i < 400; ++i) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {  // exited: port taken, bad flag
        pid_ = -1;
        return false;
      }
      if (Accepts()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }

  bool Accepts() const {
    if (options_.unix_socket) {
      UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
      sockaddr_un addr{};
      addr.sun_family = AF_UNIX;
      std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", socket_path().c_str());
      return connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    }
    UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port_));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  }

  // memcached.conf for Cyrus SASL (found through SASL_CONF_PATH) and a
  // sasldb holding the one user, made with saslpasswd2.
  void WriteSaslConfig() {
    const std::string db = dir_.path() + "/sasldb2";
    std::ofstream(dir_.path() + "/memcached.conf")
        << "mech_list: plain\nsasldb_path: " << db << "\n";
    const std::string command = "echo '" + options_.sasl_password +
                                "' | saslpasswd2 -p -a memcached -c -f " + db + " " +
                                options_.sasl_user;
    sasl_ready_ = std::system(command.c_str()) == 0;
  }

 public:
  // SASL mode only: whether the sasldb could be made (saslpasswd2 installed).
  bool sasl_ready() const { return sasl_ready_; }

 private:
  MemcachedOptions options_;
  TempDir dir_;
  pid_t pid_ = -1;
  int port_ = 0;
  bool fixed_port_ = false;
  bool sasl_ready_ = false;
};

}  // namespace ttscache::testing
