// For benchmarks: a program started with pipes on its stdin and stdout that
// the caller feeds at its own pace (bench/stream_latency.cpp writes PCM to
// ffmpeg as a synthesizer would produce it), while a thread of the caller's
// reads stdout. Unlike process_pipe.hpp's RunPiped, which hands over the
// whole input at once, the input here is written chunk by chunk and the
// output is seen as it leaves. Owns the child: the destructor closes both
// pipes and reaps it. Thread-safety: Write/CloseInput from one thread,
// Read from one other thread. Header-only.
#pragma once

#include <fcntl.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/unique_fd.hpp"

extern char** environ;

namespace ttscache::bench {

class PipedChild {
 public:
  explicit PipedChild(const std::vector<std::string>& argv) {
    int in_pipe[2], out_pipe[2];
    if (pipe2(in_pipe, O_CLOEXEC) != 0) throw std::runtime_error("pipe2");
    UniqueFd in_read(in_pipe[0]);
    input_.reset(in_pipe[1]);
    if (pipe2(out_pipe, O_CLOEXEC) != 0) throw std::runtime_error("pipe2");
    output_.reset(out_pipe[0]);
    UniqueFd out_write(out_pipe[1]);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, in_read.get(), 0);
    posix_spawn_file_actions_adddup2(&actions, out_write.get(), 1);
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    int e = posix_spawnp(&pid_, args[0], &actions, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (e != 0) throw std::runtime_error("cannot start " + argv[0]);
  }
  PipedChild(const PipedChild&) = delete;
  PipedChild& operator=(const PipedChild&) = delete;
  ~PipedChild() {
    input_.reset();
    output_.reset();
    if (pid_ > 0) Wait();
  }

  // Blocks until all of `bytes` is in the pipe; false if the child is gone.
  bool Write(std::span<const uint8_t> bytes) {
    while (!bytes.empty()) {
      ssize_t n = write(input_.get(), bytes.data(), bytes.size());
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      bytes = bytes.subspan(static_cast<size_t>(n));
    }
    return true;
  }
  void CloseInput() { input_.reset(); }
  // Some of stdout; 0 at EOF, -1 on an error.
  ssize_t Read(uint8_t* buffer, size_t size) {
    ssize_t n;
    do n = read(output_.get(), buffer, size);
    while (n < 0 && errno == EINTR);
    return n;
  }
  // Reaps the child; true if it exited 0. `cpu_ms` gets its user + system time.
  bool Wait(double* cpu_ms = nullptr) {
    int status = 0;
    rusage usage{};
    if (wait4(pid_, &status, 0, &usage) != pid_) return false;
    pid_ = -1;
    if (cpu_ms) {
      auto ms = [](const timeval& t) { return t.tv_sec * 1e3 + t.tv_usec / 1e3; };
      *cpu_ms = ms(usage.ru_utime) + ms(usage.ru_stime);
    }
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
  }

 private:
  UniqueFd input_, output_;
  pid_t pid_ = -1;
};

}  // namespace ttscache::bench
