// libogg behind OggOpusWriter; see ogg_opus_writer.hpp. The header layouts are
// RFC 7845 §5.1 (OpusHead) and §5.2 (OpusTags).
#include "core/audio/ogg_opus_writer.hpp"

#include <ogg/ogg.h>
#include <opus.h>
#include <sys/random.h>

#include <string>
#include <vector>

#include "ttscache/build_info.hpp"

namespace ttscache {
namespace {

constexpr int64_t kFlushEverySamples = 48000;  // at least one page per second of audio

void PutLe16(std::vector<uint8_t>* v, uint16_t x) {
  v->push_back(static_cast<uint8_t>(x));
  v->push_back(static_cast<uint8_t>(x >> 8));
}
void PutLe32(std::vector<uint8_t>* v, uint32_t x) {
  for (int i = 0; i < 4; ++i) v->push_back(static_cast<uint8_t>(x >> (8 * i)));
}
void PutString(std::vector<uint8_t>* v, const std::string& s) {
  PutLe32(v, static_cast<uint32_t>(s.size()));
  v->insert(v->end(), s.begin(), s.end());
}

std::vector<uint8_t> OpusHead(const OggOpusHeader& h) {
  std::vector<uint8_t> p = {'O', 'p', 'u', 's', 'H',
                            'e', 'a', 'd', 1,   static_cast<uint8_t>(h.channels)};
  PutLe16(&p, static_cast<uint16_t>(h.pre_skip));
  PutLe32(&p, static_cast<uint32_t>(h.input_sample_rate));
  PutLe16(&p, 0);  // output gain
  p.push_back(0);  // channel mapping family 0: mono or stereo, no table
  return p;
}

std::vector<uint8_t> OpusTags() {
  std::vector<uint8_t> p = {'O', 'p', 'u', 's', 'T', 'a', 'g', 's'};
  PutString(&p, opus_get_version_string());
  PutLe32(&p, 1);
  PutString(&p, std::string("ENCODER=ttscache ") + build::kVersion);
  return p;
}

}  // namespace

struct OggOpusWriter::State {
  ogg_stream_state stream;
  ByteSink* sink;
  PageFlush pages;
  int64_t packet_number = 0;
  ~State() { ogg_stream_clear(&stream); }
};

OggOpusWriter::OggOpusWriter(std::unique_ptr<State> state) : state_(std::move(state)) {}
OggOpusWriter::OggOpusWriter(OggOpusWriter&&) noexcept = default;
OggOpusWriter& OggOpusWriter::operator=(OggOpusWriter&&) noexcept = default;
OggOpusWriter::~OggOpusWriter() = default;

uint32_t RandomOggSerial() {
  uint32_t serial = 0;
  if (getrandom(&serial, sizeof(serial), 0) != sizeof(serial)) {
    serial =
        static_cast<uint32_t>(reinterpret_cast<uintptr_t>(&serial));  // never fails in practice
  }
  return serial;
}

Result<OggOpusWriter> OggOpusWriter::Create(const OggOpusHeader& header, PageFlush pages,
                                            ByteSink* sink) {
  auto state = std::make_unique<State>();
  if (ogg_stream_init(&state->stream, static_cast<int>(header.serial)) != 0) {
    return MakeError(Errc::kInternal, "ogg_stream_init failed");
  }
  state->sink = sink;
  state->pages = pages;
  OggOpusWriter writer(std::move(state));

  // Each header packet completes its own page (RFC 7845 §3): flush after each.
  std::vector<uint8_t> head = OpusHead(header);
  std::vector<uint8_t> tags = OpusTags();
  for (std::vector<uint8_t>* packet : {&head, &tags}) {
    ogg_packet op{};
    op.packet = packet->data();
    op.bytes = static_cast<long>(packet->size());
    op.b_o_s = packet == &head;
    op.granulepos = 0;
    op.packetno = writer.state_->packet_number++;
    if (ogg_stream_packetin(&writer.state_->stream, &op) != 0) {
      return MakeError(Errc::kInternal, "ogg_stream_packetin failed on a header packet");
    }
    if (Status s = writer.WritePages(true); !s) return s.error();
  }
  return writer;
}

Status OggOpusWriter::AddPacket(std::span<const uint8_t> packet, int samples_48k, bool last,
                                int64_t end_granule) {
  granule_ += samples_48k;
  ogg_packet op{};
  op.packet = const_cast<uint8_t*>(packet.data());  // libogg copies; it never writes
  op.bytes = static_cast<long>(packet.size());
  op.e_o_s = last;
  op.granulepos = last ? end_granule : granule_;
  op.packetno = state_->packet_number++;
  if (ogg_stream_packetin(&state_->stream, &op) != 0) {
    return MakeError(Errc::kInternal, "ogg_stream_packetin failed on an audio packet");
  }
  // Packets 0 and 1 are OpusHead and OpusTags: packet 2 is the first audio.
  const bool first_audio = op.packetno == 2;
  bool flush = last || state_->pages == PageFlush::kEveryPacket ||
               (state_->pages == PageFlush::kStreaming && first_audio) ||
               granule_ - granule_at_last_flush_ >= kFlushEverySamples;
  return WritePages(flush);
}

Status OggOpusWriter::WritePages(bool flush) {
  ogg_page page;
  auto emit = [&]() -> Status {
    if (Status s = state_->sink->Write({page.header, static_cast<size_t>(page.header_len)}); !s) {
      return s;
    }
    return state_->sink->Write({page.body, static_cast<size_t>(page.body_len)});
  };
  while (ogg_stream_pageout(&state_->stream, &page) != 0) {
    if (Status s = emit(); !s) return s;
  }
  if (flush) {
    while (ogg_stream_flush(&state_->stream, &page) != 0) {
      if (Status s = emit(); !s) return s;
    }
    granule_at_last_flush_ = granule_;
  }
  return {};
}

}  // namespace ttscache
