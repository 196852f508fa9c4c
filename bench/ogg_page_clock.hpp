// For latency benchmarks: reads an Ogg Opus byte stream as it arrives, in
// pieces of any size (a daemon's reply holding whole pages, or whatever a
// pipe from ffmpeg hands over), and notes when the first audio page was
// complete. Only page headers are read (RFC 3533: "OggS", the granule at
// byte 6, the segment table at 26); the two header pages of RFC 7845
// (OpusHead, OpusTags) have granule 0, every audio page a non-zero one (the
// pre-skip alone makes it positive, and a page where no packet ends has -1).
// Thread-safety: none; one reader thread feeds it. Header-only.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <vector>

namespace ttscache::bench {

class OggPageClock {
 public:
  using Clock = std::chrono::steady_clock;

  // Appends `bytes`, received at `now`; every page they complete is counted.
  void Feed(std::span<const uint8_t> bytes, Clock::time_point now) {
    pending_.insert(pending_.end(), bytes.begin(), bytes.end());
    size_t at = 0;
    while (pending_.size() - at >= 27) {
      const uint8_t* p = pending_.data() + at;
      if (std::memcmp(p, "OggS", 4) != 0 || p[4] != 0) {
        damaged_ = true;
        break;
      }
      const size_t segments = p[26];
      if (pending_.size() - at < 27 + segments) break;
      size_t size = 27 + segments;
      for (size_t i = 0; i < segments; ++i) size += p[27 + i];
      if (pending_.size() - at < size) break;
      int64_t granule = 0;
      std::memcpy(&granule, p + 6, 8);  // little-endian, as the machines we run on
      ++pages_;
      if (granule != 0) {
        ++audio_pages_;
        if (!first_audio_) first_audio_ = now;
        if (granule > 0) last_granule_ = granule;
      }
      if (p[5] & 0x04) eos_ = true;
      bytes_ += size;
      at += size;
    }
    pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(at));
  }

  std::optional<Clock::time_point> first_audio() const { return first_audio_; }
  int pages() const { return pages_; }
  int audio_pages() const { return audio_pages_; }
  int64_t last_granule() const { return last_granule_; }
  uint64_t bytes() const { return bytes_; }
  // Whole pages only, no damage, the last one marked end of stream.
  bool complete() const { return !damaged_ && pending_.empty() && eos_ && audio_pages_ > 0; }

 private:
  std::vector<uint8_t> pending_;
  std::optional<Clock::time_point> first_audio_;
  int pages_ = 0, audio_pages_ = 0;
  int64_t last_granule_ = 0;
  uint64_t bytes_ = 0;
  bool eos_ = false, damaged_ = false;
};

}  // namespace ttscache::bench
