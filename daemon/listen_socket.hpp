// The daemon's listening socket: the one systemd passed (socket activation,
// sd_listen_fds), or one bound at the configured path with the configured
// mode and group. A leftover socket file is replaced only when nothing
// accepts on it; a live one means another daemon runs, and that is an error.
// The socket is bound in a private directory beside the path and renamed into
// place with its mode and group already set: it never appears with another
// mode, and the process umask (shared with the threads creating cache files)
// is never changed. Thread-safe in that sense; callers run it one at a time.
#pragma once

#include <string>

#include "core/config/config.hpp"
#include "core/result.hpp"
#include "core/unique_fd.hpp"

namespace ttscache {

struct ListenSocket {
  UniqueFd fd;
  bool activated = false;  // from systemd: not ours to unlink
  std::string path;
};

Result<ListenSocket> OpenListenSocket(const DaemonSettings& settings);

}  // namespace ttscache
