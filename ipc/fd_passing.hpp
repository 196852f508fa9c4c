// Sending and receiving bytes with file descriptors over a Unix stream
// socket (SCM_RIGHTS). Received descriptors arrive close-on-exec; if the
// kernel truncated the control data or more descriptors came than allowed,
// every received descriptor is closed and the call fails, so none leak.
// Thread-safety: plain system calls.
#pragma once

#include <sys/types.h>

#include <span>
#include <vector>

#include "core/result.hpp"
#include "core/unique_fd.hpp"

namespace ttscache::ipc {

// Sends `bytes` (at least one) with `fd` attached when fd >= 0. Returns the
// bytes sent (the descriptor goes with the first byte); EAGAIN returns 0.
// Never raises SIGPIPE.
Result<size_t> SendWithFd(int socket, std::span<const uint8_t> bytes, int fd);

// Whether a receive may block: kNever returns at once when nothing is queued;
// kUpToSocketTimeout blocks (on a blocking socket) until data arrives or the
// socket's SO_RCVTIMEO passes — one system call where a poll() and a second
// receive would take three, which is what a round trip's latency is made of.
enum class Wait { kNever, kUpToSocketTimeout };

// Receives into `buffer`; descriptors go to *fds (at most `max_fds` per call).
// Returns bytes read: 0 = peer closed. EAGAIN (nothing queued, or the socket
// timeout passed) is Errc::kNotFound.
Result<size_t> ReceiveWithFds(int socket, std::span<uint8_t> buffer, std::vector<UniqueFd>* fds,
                              size_t max_fds, Wait wait = Wait::kNever);

}  // namespace ttscache::ipc
