// See frame_reader.hpp. Bytes are consumed as they are fed: the header into a
// fixed 24-byte array, the body straight into the vector the frame will carry.
// Descriptors wait in fd_reads_ (stream range of the read that brought them)
// until the frame that starts inside that range and announces them is decoded.
#include "ipc/frame_reader.hpp"

#include <algorithm>
#include <cstring>
#include <string>

namespace ttscache::ipc {
namespace {

// A body is first given this much room, and its announced length only once
// more than this has arrived: an announced 64 MiB costs nothing until the
// bytes come, and a large body is copied at most once more, by 64 KiB.
constexpr size_t kInitialBodyRoom = 64 * 1024;

}  // namespace

Status FrameReader::Fail(Error e) {
  failed_ = e;
  fd_reads_.clear();  // closes every descriptor still held
  frame_fds_.clear();
  ready_.clear();
  body_ = {};
  pending_.reset();
  buffered_ = 0;
  return e;
}

uint64_t FrameReader::NextUndecodedStart() const {
  return pending_ ? frame_start_ + kHeaderSize + pending_->body_length : frame_start_;
}

std::optional<uint32_t> FrameReader::pending_body_length() const {
  if (!pending_) return std::nullopt;
  return pending_->body_length;
}

size_t FrameReader::capacity() const {
  size_t total = body_.capacity();
  for (const ReceivedFrame& f : ready_) total += f.frame.body.capacity();
  return total;
}

Status FrameReader::StartFrame() {
  Result<FrameHeader> h = DecodeHeader({header_, kHeaderSize}, max_body_);
  if (!h) return Fail(h.error());
  // Descriptors whose read ended before this frame starts were claimed by no
  // frame starting in that read.
  if (!fd_reads_.empty() && fd_reads_.front().end <= frame_start_) {
    return Fail(MakeError(Errc::kInvalidArgument,
                          "a descriptor arrived with no frame announcing one (flag 0x0001)"));
  }
  if (h->flags & kFlagFd) {
    const bool arrived = !fd_reads_.empty() && fd_reads_.front().begin <= frame_start_ &&
                         frame_start_ < fd_reads_.front().end;
    if (!arrived) {
      return Fail(MakeError(Errc::kInvalidArgument,
                            "frame " + std::to_string(h->request_id) +
                                " announces a descriptor that did not arrive with it"));
    }
    frame_fds_ = std::move(fd_reads_.front().fds);
    fd_reads_.pop_front();
  }
  pending_ = *h;
  body_.reserve(std::min<size_t>(h->body_length, kInitialBodyRoom));
  return {};
}

void FrameReader::FinishFrame() {
  ReceivedFrame f;
  f.frame.header = *pending_;
  f.frame.body = std::move(body_);
  f.fds = std::move(frame_fds_);
  body_ = {};
  frame_fds_.clear();
  ready_.push_back(std::move(f));
  pending_.reset();
  header_have_ = 0;
  frame_start_ = stream_offset_;
}

Status FrameReader::Feed(std::span<const uint8_t> bytes, std::vector<UniqueFd> fds) {
  if (failed_) return *failed_;
  if (!fds.empty()) {
    if (bytes.empty()) {
      return Fail(MakeError(Errc::kInvalidArgument, "descriptors arrived without data"));
    }
    if (fds.size() > max_fds_) {
      return Fail(
          MakeError(Errc::kInvalidArgument, std::to_string(fds.size()) +
                                                " descriptors arrived in one read, at most " +
                                                std::to_string(max_fds_) + " expected"));
    }
    fd_reads_.push_back({stream_offset_, stream_offset_ + bytes.size(), std::move(fds)});
  }
  size_t at = 0;
  while (at < bytes.size()) {
    const uint8_t* from = bytes.data() + at;
    size_t take;
    if (!pending_) {
      take = std::min(kHeaderSize - header_have_, bytes.size() - at);
      std::memcpy(header_ + header_have_, from, take);
      header_have_ += take;
    } else {
      take = std::min<size_t>(pending_->body_length - body_.size(), bytes.size() - at);
      if (body_.size() + take > body_.capacity()) body_.reserve(pending_->body_length);
      body_.insert(body_.end(), from, from + take);
    }
    at += take;
    stream_offset_ += take;
    buffered_ += take;
    if (!pending_ && header_have_ == kHeaderSize) {
      if (Status s = StartFrame(); !s) return s;
    }
    if (pending_ && body_.size() == pending_->body_length) FinishFrame();
  }
  if (!fd_reads_.empty() && fd_reads_.front().end <= NextUndecodedStart()) {
    return Fail(MakeError(Errc::kInvalidArgument,
                          "a descriptor arrived with no frame announcing one (flag 0x0001)"));
  }
  // A well-behaved sender leaves at most one read's descriptors waiting: those
  // of a frame whose header has not fully arrived.
  if (fd_reads_.size() > 1) {
    return Fail(MakeError(Errc::kInvalidArgument, "descriptors arrived inside a frame header"));
  }
  return {};
}

std::optional<ReceivedFrame> FrameReader::Next() {
  if (failed_ || ready_.empty()) return std::nullopt;
  ReceivedFrame f = std::move(ready_.front());
  ready_.pop_front();
  buffered_ -= kHeaderSize + f.frame.body.size();
  return f;
}

}  // namespace ttscache::ipc
