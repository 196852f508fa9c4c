// Frames: a fixed 24-byte little-endian header and a body.
//
//   0 u32 magic "TTSC" | 4 u8 version | 5 u8 opcode | 6 u16 flags
//   8 u64 request id   | 16 u32 body length | 20 u32 reserved (0)
//
// FrameParser takes bytes as they arrive from a stream socket and yields
// whole frames; it refuses a bad header (magic, version, reserved, length
// over the limit) before reading the body. Thread-safety: none; one per
// connection.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "ipc/protocol.hpp"

namespace ttscache::ipc {

struct FrameHeader {
  uint8_t opcode = 0;
  uint16_t flags = 0;
  uint64_t request_id = 0;
  uint32_t body_length = 0;
};

void EncodeHeader(const FrameHeader& header, uint8_t out[kHeaderSize]);
// Checks magic, version, reserved and the body limit.
Result<FrameHeader> DecodeHeader(std::span<const uint8_t> bytes, uint32_t max_body);

struct Frame {
  FrameHeader header;
  std::vector<uint8_t> body;
};

class FrameParser {
 public:
  explicit FrameParser(uint32_t max_body = kMaxFrameBody) : max_body_(max_body) {}
  // Appends received bytes. After an error the parser stays failed.
  Status Feed(std::span<const uint8_t> bytes);
  // The next complete frame, if any.
  std::optional<Frame> Next();
  // Bytes buffered but not yet returned as frames.
  size_t buffered() const { return buffer_.size() - consumed_; }
  // The body length the next frame's header announced, once its header is in.
  std::optional<uint32_t> pending_body_length() const {
    return pending_ ? std::optional<uint32_t>(pending_->body_length) : std::nullopt;
  }

 private:
  uint32_t max_body_;
  std::vector<uint8_t> buffer_;
  size_t consumed_ = 0;
  std::optional<FrameHeader> pending_;
  std::optional<Error> failed_;
};

// Header + body in one buffer, ready to send.
std::vector<uint8_t> BuildFrame(uint8_t opcode, uint64_t request_id, std::span<const uint8_t> body,
                                uint16_t flags = 0);

}  // namespace ttscache::ipc
