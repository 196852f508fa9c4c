// See frame.hpp.
#include "ipc/frame.hpp"

#include <cstring>

#include "ipc/wire_codec.hpp"

namespace ttscache::ipc {

void EncodeHeader(const FrameHeader& h, uint8_t out[kHeaderSize]) {
  // Straight into `out` (offsets as in docs/protocol.md): every frame passes here.
  StoreLittleEndian(out + 0, kMagic, 4);
  StoreLittleEndian(out + 4, kVersion, 1);
  StoreLittleEndian(out + 5, h.opcode, 1);
  StoreLittleEndian(out + 6, h.flags, 2);
  StoreLittleEndian(out + 8, h.request_id, 8);
  StoreLittleEndian(out + 16, h.body_length, 4);
  StoreLittleEndian(out + 20, 0, 4);  // reserved
}

Result<FrameHeader> DecodeHeader(std::span<const uint8_t> bytes, uint32_t max_body) {
  BodyReader r(bytes.subspan(0, kHeaderSize));
  uint32_t magic = r.U32();
  uint8_t version = r.U8();
  FrameHeader h;
  h.opcode = r.U8();
  h.flags = r.U16();
  h.request_id = r.U64();
  h.body_length = r.U32();
  uint32_t reserved = r.U32();
  if (!r.ok()) return MakeError(Errc::kInvalidArgument, "short frame header");
  if (magic != kMagic) {
    return MakeError(Errc::kInvalidArgument,
                     "bad magic 0x" + Hex32(magic) + ", expected 0x43535454 (\"TTSC\")");
  }
  if (version != kVersion) {
    return MakeError(Errc::kInvalidArgument,
                     "protocol version " + std::to_string(version) + ", expected 1");
  }
  if (reserved != 0) return MakeError(Errc::kInvalidArgument, "reserved header field is not 0");
  if (h.body_length > max_body) {
    return MakeError(Errc::kTooLarge, "frame body of " + std::to_string(h.body_length) +
                                          " bytes exceeds the limit of " +
                                          std::to_string(max_body));
  }
  return h;
}

std::vector<uint8_t> BuildFrame(uint8_t opcode, uint64_t request_id, std::span<const uint8_t> body,
                                uint16_t flags) {
  std::vector<uint8_t> out(kHeaderSize + body.size());
  EncodeHeader({opcode, flags, request_id, static_cast<uint32_t>(body.size())}, out.data());
  if (!body.empty()) std::memcpy(out.data() + kHeaderSize, body.data(), body.size());
  return out;
}

}  // namespace ttscache::ipc
