// BodyReader / BodyWriter: little-endian fields in frame bodies. The reader
// checks every read against the remaining bytes and becomes "failed" (ok()
// false, values 0) instead of reading past the end, so a parser can read all
// fields and check once. Strings are u32 length + bytes, capped.
#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ipc/protocol.hpp"

namespace ttscache::ipc {

class BodyReader {
 public:
  explicit BodyReader(std::span<const uint8_t> bytes) : bytes_(bytes) {}

  uint8_t U8() { return static_cast<uint8_t>(Read(1)); }
  uint16_t U16() { return static_cast<uint16_t>(Read(2)); }
  uint32_t U32() { return static_cast<uint32_t>(Read(4)); }
  uint64_t U64() { return Read(8); }
  // A u32 length then that many bytes (at most `max`), as a view into the body.
  std::string_view String(uint32_t max = kMaxStringBytes) {
    std::span<const uint8_t> b = Bytes(max);
    return {reinterpret_cast<const char*>(b.data()), b.size()};
  }
  std::span<const uint8_t> Bytes(uint32_t max) {
    uint32_t n = U32();
    if (n > max) failed_ = true;
    return Take(n);
  }
  std::span<const uint8_t> Take(size_t n) {
    if (failed_ || n > bytes_.size() - pos_) {
      failed_ = true;
      return {};
    }
    std::span<const uint8_t> out = bytes_.subspan(pos_, n);
    pos_ += n;
    return out;
  }
  bool ok() const { return !failed_; }
  // True when every byte was consumed and nothing failed.
  bool done() const { return !failed_ && pos_ == bytes_.size(); }

 private:
  uint64_t Read(size_t n) {
    std::span<const uint8_t> b = Take(n);
    uint64_t v = 0;
    for (size_t i = 0; i < b.size(); ++i) v |= uint64_t{b[i]} << (8 * i);
    return v;
  }
  std::span<const uint8_t> bytes_;
  size_t pos_ = 0;
  bool failed_ = false;
};

// Writes the low `n` bytes of `v` at `out`, least significant first.
inline void StoreLittleEndian(uint8_t* out, uint64_t v, size_t n) {
  for (size_t i = 0; i < n; ++i) out[i] = static_cast<uint8_t>(v >> (8 * i));
}

class BodyWriter {
 public:
  // Most bodies are a few dozen bytes: one allocation, not one per doubling.
  BodyWriter() { bytes_.reserve(64); }

  BodyWriter& U8(uint8_t v) { return Put(v, 1); }
  BodyWriter& U16(uint16_t v) { return Put(v, 2); }
  BodyWriter& U32(uint32_t v) { return Put(v, 4); }
  BodyWriter& U64(uint64_t v) { return Put(v, 8); }
  BodyWriter& String(std::string_view s) {
    U32(static_cast<uint32_t>(s.size()));
    bytes_.insert(bytes_.end(), s.begin(), s.end());
    return *this;
  }
  BodyWriter& Bytes(std::span<const uint8_t> b) {
    U32(static_cast<uint32_t>(b.size()));
    bytes_.insert(bytes_.end(), b.begin(), b.end());
    return *this;
  }
  BodyWriter& Raw(std::span<const uint8_t> b) {
    bytes_.insert(bytes_.end(), b.begin(), b.end());
    return *this;
  }
  std::vector<uint8_t>& bytes() { return bytes_; }

 private:
  BodyWriter& Put(uint64_t v, size_t n) {
    for (size_t i = 0; i < n; ++i) bytes_.push_back(static_cast<uint8_t>(v >> (8 * i)));
    return *this;
  }
  std::vector<uint8_t> bytes_;
};

inline std::string Hex32(uint32_t v) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  std::string s(8, '0');
  for (int i = 0; i < 8; ++i) s[7 - i] = kDigits[(v >> (4 * i)) & 15];
  return s;
}

}  // namespace ttscache::ipc
