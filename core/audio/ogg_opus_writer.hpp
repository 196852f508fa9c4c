// OggOpusWriter: the RFC 7845 container around Opus packets, with libogg.
// It writes OpusHead alone on the BOS page and OpusTags on its own page(s),
// then audio packets with granule positions in 48 kHz units, paged as
// PageFlush says, and ends with an EOS page whose granule trims the padding.
// Move-only (owns an ogg_stream_state); not thread-safe.
#pragma once

#include <memory>
#include <span>

#include "core/audio/byte_sink.hpp"
#include "core/result.hpp"

namespace ttscache {

struct OggOpusHeader {
  int channels = 1;
  int pre_skip = 0;           // 48 kHz samples to drop at the start
  int input_sample_rate = 0;  // the original rate, informational
  uint32_t serial = 0;
};

// When audio pages are cut. Every policy also cuts one at least every second
// of audio, and the last packet ends the last page.
enum class PageFlush {
  kEverySecond,  // whole files: least overhead
  kEveryPacket,  // least latency, a page header per packet
  // Streams: the first audio packet goes out alone (the listener's first
  // sound waits for nothing else), later ones when the caller calls Flush()
  // — at the end of each chunk of input it pushes.
  kStreaming,
};

class OggOpusWriter {
 public:
  // Writes the two header pages to `sink` (borrowed; must outlive the writer).
  static Result<OggOpusWriter> Create(const OggOpusHeader& header, PageFlush pages,
                                      ByteSink* sink);
  OggOpusWriter(OggOpusWriter&&) noexcept;
  OggOpusWriter& operator=(OggOpusWriter&&) noexcept;
  ~OggOpusWriter();

  // Adds one audio packet covering `samples_48k` samples. With `last`, the
  // stream ends: the packet's granule is `end_granule` (pre-skip + decoded
  // length, at most the running total) and the EOS page is flushed.
  // REQUIRES: packet is not empty; no call after `last`.
  Status AddPacket(std::span<const uint8_t> packet, int samples_48k, bool last,
                   int64_t end_granule = 0);

  // Writes the packets added so far as a page now (nothing when there are none).
  Status Flush() { return WritePages(true); }

  int64_t granule() const { return granule_; }

 private:
  struct State;
  explicit OggOpusWriter(std::unique_ptr<State> state);
  Status WritePages(bool flush);

  std::unique_ptr<State> state_;
  int64_t granule_ = 0;
  int64_t granule_at_last_flush_ = 0;
};

// A random serial number for a new logical stream (getrandom).
uint32_t RandomOggSerial();

}  // namespace ttscache
