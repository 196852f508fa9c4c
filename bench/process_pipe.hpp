// Runs a program with `input` on its stdin and returns its stdout, the way the
// Node backend runs ffmpeg per request: posix_spawn + two pipes, poll()ing
// both so neither side blocks. For benchmarks only.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

extern char** environ;

namespace ttscache::bench {

inline std::vector<uint8_t> RunPiped(const std::vector<std::string>& argv,
                                     const std::vector<uint8_t>& input) {
  int in_pipe[2], out_pipe[2];
  if (pipe2(in_pipe, O_CLOEXEC) != 0 || pipe2(out_pipe, O_CLOEXEC) != 0) {
    throw std::runtime_error("pipe2");
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in_pipe[0], 0);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid;
  if (posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ) != 0) {
    throw std::runtime_error("cannot start " + argv[0]);
  }
  posix_spawn_file_actions_destroy(&actions);
  close(in_pipe[0]);
  close(out_pipe[1]);
  fcntl(in_pipe[1], F_SETFL, O_NONBLOCK);
  std::vector<uint8_t> output;
  size_t written = 0;
  int to_child = in_pipe[1];
  uint8_t buffer[65536];
  while (true) {
    pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {to_child, POLLOUT, 0}};
    poll(fds, to_child >= 0 ? 2 : 1, -1);
    if (to_child >= 0 && (fds[1].revents & (POLLOUT | POLLERR | POLLHUP))) {
      ssize_t n = write(to_child, input.data() + written, input.size() - written);
      if (n > 0) written += static_cast<size_t>(n);
      if (n < 0 || written == input.size()) {
        close(to_child);
        to_child = -1;
      }
    }
    if (fds[0].revents & (POLLIN | POLLHUP)) {
      ssize_t n = read(out_pipe[0], buffer, sizeof(buffer));
      if (n <= 0) break;
      output.insert(output.end(), buffer, buffer + n);
    }
  }
  if (to_child >= 0) close(to_child);
  close(out_pipe[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    throw std::runtime_error(argv[0] + " failed");
  }
  return output;
}

}  // namespace ttscache::bench
