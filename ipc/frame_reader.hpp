// FrameReader: turns what recvmsg returns on a Unix stream socket — bytes
// plus the descriptors that came with them — into whole frames, each holding
// the descriptors its sender attached to it. The daemon and libttscache both
// read through it, so a descriptor can never be handed to the wrong frame.
//
// Binding rule. Senders attach a frame's descriptor to the sendmsg that starts
// with the frame's first byte. Linux then delivers it with the recvmsg that
// returns that byte, and stops the read after it: one recvmsg may return the
// tail of earlier descriptor-less data followed by the start of the frame with
// the descriptor, never data after a second descriptor-carrying write. So the
// descriptors of one read belong to the first frame that starts inside that
// read and announces kFlagFd. A frame announcing kFlagFd without such
// descriptors, descriptors that no frame starting in their read claims, or
// more than `max_fds` for one frame: the reader fails, and every descriptor it
// holds is closed.
//
// Memory. A frame's body is received straight into the body handed out (one
// copy from the receive buffer); the header is checked before any body byte is
// accepted, so a bad or oversized header is refused first. A consumed frame
// takes its body's memory with it: after a 60 MiB frame the reader holds only
// what it needs for the next one. buffered() and pending_body_length() let an
// owner budget the memory of all its connections.
//
// Thread-safety: none; one per connection.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <span>
#include <vector>

#include "core/result.hpp"
#include "core/unique_fd.hpp"
#include "ipc/frame.hpp"
#include "ipc/protocol.hpp"

namespace ttscache::ipc {

struct ReceivedFrame {
  Frame frame;
  std::vector<UniqueFd> fds;  // non-empty exactly when frame.header.flags has kFlagFd
};

class FrameReader {
 public:
  explicit FrameReader(uint32_t max_body = kMaxFrameBody, size_t max_fds = kMaxFdsPerMessage)
      : max_body_(max_body), max_fds_(max_fds) {}

  // Takes the bytes and descriptors of one recvmsg. Complete frames become
  // available to Next(). After an error the reader stays failed and holds no
  // descriptors and no frames.
  // REQUIRES: fds is empty or bytes is not (a descriptor rides on a byte).
  Status Feed(std::span<const uint8_t> bytes, std::vector<UniqueFd> fds = {});

  // The next complete frame, in stream order; nullopt when none is complete
  // (or the reader failed).
  std::optional<ReceivedFrame> Next();

  bool failed() const { return failed_.has_value(); }
  // Received bytes not yet handed out by Next() (complete frames included).
  size_t buffered() const { return buffered_; }
  // The body length announced by the header of the frame being received, once
  // that header is complete (it has been checked against max_body).
  std::optional<uint32_t> pending_body_length() const;
  // The stream offset at which that frame starts (names it: an owner that
  // reserved memory for it can tell it from the next one).
  std::optional<uint64_t> pending_frame_start() const {
    return pending_ ? std::optional<uint64_t>(frame_start_) : std::nullopt;
  }
  // Heap bytes the reader holds for data not yet handed out.
  size_t capacity() const;

 private:
  // Descriptors of one read, waiting for the frame that starts in
  // [begin, end) of the stream and announces them.
  struct FdRead {
    uint64_t begin = 0;
    uint64_t end = 0;
    std::vector<UniqueFd> fds;
  };
  Status Fail(Error e);
  Status StartFrame();  // the header is complete: check it, bind descriptors
  void FinishFrame();
  // Where the next frame whose header is not yet decoded starts.
  uint64_t NextUndecodedStart() const;

  uint32_t max_body_;
  size_t max_fds_;
  uint64_t stream_offset_ = 0;  // bytes fed so far
  uint64_t frame_start_ = 0;    // stream offset of the frame being received
  uint8_t header_[kHeaderSize] = {};
  size_t header_have_ = 0;
  std::optional<FrameHeader> pending_;  // decoded header of the frame being received
  std::vector<uint8_t> body_;
  std::vector<UniqueFd> frame_fds_;
  std::deque<FdRead> fd_reads_;
  std::deque<ReceivedFrame> ready_;
  size_t buffered_ = 0;
  std::optional<Error> failed_;
};

}  // namespace ttscache::ipc
