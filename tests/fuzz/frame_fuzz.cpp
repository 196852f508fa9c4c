// libFuzzer: arbitrary bytes as a stream of frames, every body through its decoder.
#include <cstddef>
#include <cstdint>

#include "ipc/frame_reader.hpp"
#include "ipc/messages.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ttscache::ipc;
  FrameReader parser(1 << 16);
  // Feed in uneven pieces, as a socket would deliver them.
  size_t at = 0;
  for (size_t piece = 1; at < size; piece = piece * 3 % 97 + 1) {
    size_t n = std::min(piece, size - at);
    if (!parser.Feed({data + at, n})) return 0;
    at += n;
    while (auto frame = parser.Next()) {
      std::span<const uint8_t> b = frame->frame.body;
      (void)DecodeHelloRequest(b);
      (void)DecodeGetRequest(b);
      (void)DecodePutRequest(b);
      (void)DecodeEncodeRequest(b);
      (void)DecodePutEncodeRequest(b);
      (void)DecodeArenaRequest(b);
      (void)DecodePutFileRequest(b);
      (void)DecodePutFileReply(b);
      (void)DecodeStatsRequest(b);
      (void)DecodeHasKeysRequest(b);
      (void)DecodeHasKeysReply(b);
      (void)DecodeAudioReply(b);
      (void)DecodeStatsReply(b);
      (void)DecodeErrorReply(b);
      (void)DecodeHelloReply(b);
      (void)DecodeStreamOpenRequest(b);
      (void)DecodeStreamOpenReply(b);
      (void)DecodeStreamPushRequest(b);
      (void)DecodeStreamPagesReply(b);
      (void)DecodeStreamFinishReply(b);
      (void)DecodeStreamIdRequest(b);
      (void)DecodeDeleteRequest(b);
      (void)DecodeDeleteReply(b);
      (void)DecodePurgeRequest(b);
      (void)DecodePurgeReply(b);
      (void)DecodeListRequest(b);
      (void)DecodeListReply(b);
      (void)DecodeVerifyRequest(b);
      (void)DecodeVerifyReply(b);
      (void)DecodeClaimDropRequest(b);
      (void)DecodeClaimDropReply(b);
      (void)DecodeSlotAcquireRequest(b);
      (void)DecodeSlotAcquireReply(b);
      (void)DecodeSlotReleaseRequest(b);
      // Every STATS flag, so the detail, coordination and tier blocks are read
      // too; and the tier alone, so its block is reached from short inputs.
      (void)DecodeStatsReply(
          b, kStatsLimits | kStatsStreams | kStatsDetail | kStatsCoordinate | kStatsTier);
      (void)DecodeStatsReply(b, kStatsTier);
    }
  }
  return 0;
}
