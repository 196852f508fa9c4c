// ByteSink: where the encoder writes Ogg pages. The daemon points it at a
// client's shared-memory range (SpanSink), tests and the CLI at a vector or a
// file. Not thread-safe; one encoder writes to one sink.
#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "core/result.hpp"

namespace ttscache {

class ByteSink {
 public:
  virtual ~ByteSink() = default;
  // Appends `bytes`; an error stops the encoder and is returned to its caller.
  virtual Status Write(std::span<const uint8_t> bytes) = 0;
};

// Collects the output in memory, up to `max_bytes`: past it, Write fails
// with kTooLarge and the encoder stops (no work is spent on output that
// cannot be delivered).
class VectorSink final : public ByteSink {
 public:
  explicit VectorSink(size_t max_bytes = SIZE_MAX) : max_bytes_(max_bytes) {}
  Status Write(std::span<const uint8_t> bytes) override {
    if (bytes.size() > max_bytes_ - bytes_.size()) {
      return MakeError(Errc::kTooLarge, "the output exceeds " + std::to_string(max_bytes_) +
                                            " bytes, the most this sink holds");
    }
    bytes_.insert(bytes_.end(), bytes.begin(), bytes.end());
    return {};
  }
  std::vector<uint8_t>& bytes() { return bytes_; }

 private:
  size_t max_bytes_;
  std::vector<uint8_t> bytes_;
};

// Writes into a fixed range it does not own. When the range is too small it
// keeps counting, so the caller learns the size it needs (needed() > capacity).
class SpanSink final : public ByteSink {
 public:
  explicit SpanSink(std::span<uint8_t> range) : range_(range) {}
  Status Write(std::span<const uint8_t> bytes) override {
    if (needed_ + bytes.size() <= range_.size()) {
      std::memcpy(range_.data() + needed_, bytes.data(), bytes.size());
    }
    needed_ += bytes.size();
    return {};
  }
  uint64_t needed() const { return needed_; }
  bool overflowed() const { return needed_ > range_.size(); }

 private:
  std::span<uint8_t> range_;
  uint64_t needed_ = 0;
};

}  // namespace ttscache
