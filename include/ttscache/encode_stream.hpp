// EncodeStream: an encode stream on a Client's connection (docs/protocol.md,
// "Encode streams"). Push hands the daemon the next chunk of input and
// returns at once; the Ogg pages come back to `on_pages`, in order, as the
// daemon completes them — during later Push calls, WaitForPages, Collect and
// Finish. At most half of the daemon's max_buffered_bytes is in flight: a
// Push beyond that waits for the oldest replies (bounded by the client's
// timeout). An error from the daemon ends the stream: that call and every
// later one return it. A page sink that throws ends the stream too (its
// exception does not leave the library). Destroying an open stream aborts it
// (nothing is stored).
// REQUIRES: the Client outlives the stream; the stream is used by the
// Client's thread; the Client's other calls may go between pushes.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>

#include "ttscache/export.hpp"
#include "ttscache/result.hpp"

namespace ttscache {
namespace internal {
struct EncodeStreamState;  // the library's own
}

// Little-endian sample formats of raw PCM, numbered as on the wire.
enum class SampleFormat : uint8_t { kU8 = 0, kS16 = 1, kS24 = 2, kS32 = 3, kF32 = 4, kF64 = 5 };

// What a stream reads: raw interleaved PCM in the format named here
// (`piper --output_raw`: s16le, mono, the voice's rate), or a WAV as an
// engine writes it to a pipe (format from its header; sizes may be unknown).
struct StreamFormat {
  bool wav = false;
  SampleFormat sample_format = SampleFormat::kS16;
  int channels = 1;
  int sample_rate = 22050;
};

struct StreamResult {
  uint64_t samples_48k = 0;  // what the stream decodes to
  enum class Cached { kNotAsked, kStored, kNotStored } cached = Cached::kNotAsked;
  std::string note;  // why it was not stored
};

class TTSCACHE_EXPORT EncodeStream {
 public:
  using PageSink = std::function<void(std::span<const uint8_t> pages)>;

  EncodeStream(EncodeStream&&) noexcept;
  EncodeStream& operator=(EncodeStream&&) noexcept;
  ~EncodeStream();

  // Any length: a byte, half a sample, a WAV header cut anywhere.
  Status Push(std::span<const uint8_t> bytes);
  // Pushes arena[offset, +length) without copying it into the frame; the
  // range must stay unchanged until Finish, Abort, or a later Push returns.
  Status PushFromArena(uint64_t offset, uint64_t length);
  // Ends the input; the last pages reach on_pages before it returns.
  Result<StreamResult> Finish();
  // Drops the stream; replies still due are discarded. Nothing is stored.
  Status Abort();
  uint32_t id() const;

  // Between pushes — a producer waiting for its engine's next chunk — pages
  // still come: Collect delivers what has arrived, without waiting;
  // WaitForPages waits up to `timeout_ms` for the daemon first (returns at
  // once when no push is in flight). poll_fd() is the connection's socket for
  // poll()/epoll (readable: call Collect); -1 when not connected.
  Status Collect();
  Status WaitForPages(int timeout_ms);
  int poll_fd() const;
  // Pushes sent whose pages have not been delivered yet.
  size_t pushes_in_flight() const;

 private:
  friend class Client;
  using State = internal::EncodeStreamState;
  explicit EncodeStream(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace ttscache
