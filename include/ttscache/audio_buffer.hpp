// AudioBuffer: audio a Client returned. On the descriptor path it shares a
// read-only mapping of the daemon's cached file (nothing copied); inline it
// owns bytes. Copies share the same bytes; they stay valid as long as any
// copy lives, also after the Client is gone. Immutable, so copies may be
// read from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "ttscache/export.hpp"

namespace ttscache {

class TTSCACHE_EXPORT AudioBuffer {
 public:
  AudioBuffer() = default;
  explicit AudioBuffer(std::vector<uint8_t> bytes);
  // `bytes` stay valid while `owner` lives (the library passes a mapping).
  AudioBuffer(std::shared_ptr<const void> owner, std::span<const uint8_t> bytes, bool mapped);

  std::span<const uint8_t> u8() const { return {data_, size_}; }
  std::span<const std::byte> bytes() const { return std::as_bytes(u8()); }
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  bool mapped() const { return mapped_; }  // the zero-copy descriptor path

 private:
  std::shared_ptr<const void> owner_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  bool mapped_ = false;
};

}  // namespace ttscache
