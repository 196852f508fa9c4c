// Frames: a fixed 24-byte little-endian header and a body.
//
//   0 u32 magic "TTSC" | 4 u8 version | 5 u8 opcode | 6 u16 flags
//   8 u64 request id   | 16 u32 body length | 20 u32 reserved (0)
//
// Reading frames from a socket, with the descriptors that travel with them,
// is FrameReader's (frame_reader.hpp). Thread-safety: plain functions.
#pragma once

#include <cstdint>
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

// Header + body in one buffer, ready to send.
std::vector<uint8_t> BuildFrame(uint8_t opcode, uint64_t request_id, std::span<const uint8_t> body,
                                uint16_t flags = 0);

}  // namespace ttscache::ipc
