// libttscache: the C++ client of ttscached (docs/protocol.md, docs/clients.md).
//
// A Client owns one connection. Calls are synchronous, each with the
// connection's timeout; Send*/Receive* pipeline several requests on one
// connection (replies may arrive out of order; they are matched by id). After
// a daemon restart the next call reconnects once (and re-registers the arena)
// before giving up. A call that times out is not retried (the caller's bound
// is spent) and its late reply is discarded. Errors carry the daemon's
// message; Errc::kNotFound is a cache miss, Errc::kUnavailable means no daemon
// answers at the socket or it did not answer within the timeout.
//
// The client does not trust what answers at the socket. At connect it checks
// the peer's uid (SO_PEERCRED): by default the daemon must run as the owner of
// the socket file or as root; ClientOptions::daemon_uid names it explicitly
// (root is always accepted: under socket activation the peer the kernel
// reports is systemd, which created the listening socket).
// A passed descriptor must be a regular file at least as long as announced
// (so a read can never raise SIGBUS), sizes must lie inside the ranges asked
// for, and a reply to a request that is not outstanding ends the connection
// (Errc::kInternal), so nothing received grows without bound.
//
// Audio results are AudioBuffers: on the descriptor path they own a read-only
// mapping of the daemon's cached file (nothing copied); inline they own bytes.
// The arena is a sealed memfd shared with the daemon: write a WAV into
// arena() and Put/Encode it by offset, with Opus written straight back into it.
// Thread-safety: a Client is used by one thread at a time.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/audio/opus_params.hpp"
#include "ttscache/export.hpp"
#include "core/result.hpp"
#include "core/unique_fd.hpp"
#include "ipc/messages.hpp"
#include "ipc/shared_memory.hpp"

namespace ttscache {
namespace ipc {
class FrameReader;
}

struct ClientOptions {
  std::string socket_path;
  int timeout_ms = 10000;
  // The uid the daemon must run as; -1: the socket file's owner. Root always passes.
  // Another peer is refused with Errc::kForbidden.
  int64_t daemon_uid = -1;
};

class AudioBuffer {
 public:
  AudioBuffer() = default;
  explicit AudioBuffer(std::vector<uint8_t> bytes) : bytes_(std::move(bytes)) {}
  explicit AudioBuffer(std::shared_ptr<const ipc::MappedRegion> mapping)
      : mapping_(std::move(mapping)) {}

  std::span<const std::byte> bytes() const {
    auto b = mapped() ? std::span<const uint8_t>(mapping_->data(), mapping_->size())
                      : std::span<const uint8_t>(bytes_);
    return std::as_bytes(b);
  }
  std::span<const uint8_t> u8() const {
    return {reinterpret_cast<const uint8_t*>(bytes().data()), bytes().size()};
  }
  size_t size() const { return bytes().size(); }
  bool mapped() const { return mapping_ && mapping_->size() != 0; }  // zero-copy descriptor path

 private:
  std::vector<uint8_t> bytes_;
  // Shared: the Client keeps recent mappings and hands the same one out again
  // while the daemon says the file is unchanged (see Client::Get).
  std::shared_ptr<const ipc::MappedRegion> mapping_;
};

enum class Format { kWav, kOpus };

// OpusParams with bitrate 0: "the daemon's configured settings".
inline OpusParams DaemonDefaultOpus() {
  OpusParams p;
  p.bitrate_kbps = 0;
  return p;
}

class Client;

// What an encode stream reads: raw interleaved little-endian PCM in the
// format named here (`piper --output_raw`: s16le, mono, the voice's rate), or
// a WAV as an engine writes it to a pipe (format from its header).
// Little-endian sample formats, numbered as on the wire.
enum class SampleFormat : uint8_t { kU8 = 0, kS16 = 1, kS24 = 2, kS32 = 3, kF32 = 4, kF64 = 5 };

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

// An encode stream on a Client's connection (docs/protocol.md, "Encode
// streams"): Push hands the daemon the next chunk of input and returns at
// once; the Ogg pages come back to `on_pages`, in order, as the daemon
// completes them — during later Push calls and in Finish. At most half of
// the daemon's max_buffered_bytes is kept in flight: a Push beyond waits for
// the oldest replies (bounded by the client's timeout). An error from the
// daemon ends the stream: that call and every later one return it.
// Destroying an open stream aborts it (nothing is stored). The stream
// borrows its Client, which must outlive it and is used by one thread at a
// time together with it; the Client's other calls may go between pushes.
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
  uint32_t id() const { return id_; }

  // Between pushes — a producer waiting for the engine's next chunk — pages
  // still come: these hand them over as they arrive instead of at the next
  // Push. Collect delivers what has arrived, without waiting; WaitForPages
  // waits up to `timeout_ms` for something from the daemon first (returns
  // at once when no push is in flight). poll_fd() is the connection's
  // socket for poll()/epoll (readable: call Collect); -1 when not connected.
  Status Collect();
  Status WaitForPages(int timeout_ms);
  int poll_fd() const;
  // Pushes sent whose pages have not been delivered yet.
  size_t pushes_in_flight() const { return in_flight_.size(); }

 private:
  friend class Client;
  EncodeStream(Client* client, uint32_t id, uint32_t max_buffered_bytes, PageSink on_pages);
  Status SendPush(std::vector<uint8_t> body, uint64_t bytes);
  // Takes the oldest push's reply: waiting for it, or only if it is there.
  Result<bool> CollectOldest(bool wait);
  Status Fail(const Error& e);

  Client* client_ = nullptr;
  uint32_t id_ = 0;
  uint64_t window_ = 0;  // input bytes that may be in flight
  PageSink on_pages_;
  std::deque<std::pair<uint64_t, uint64_t>> in_flight_;  // (request id, bytes), oldest first
  uint64_t in_flight_bytes_ = 0;
  bool open_ = false;
  std::optional<Error> failed_;
};

class TTSCACHE_EXPORT Client {
 public:
  static Result<Client> Connect(const ClientOptions& options);
  Client(Client&&) noexcept;
  Client& operator=(Client&&) noexcept;
  ~Client();

  Status Ping();
  Result<ipc::HelloReply> Hello();
  Result<ipc::StatsReply> Stats();
  // Stats plus the daemon's limits (has_limits is false from a daemon that
  // predates them).
  Result<ipc::StatsReply> StatsWithLimits();
  // A miss is Errc::kNotFound. With `descriptor`, the reply is the cached
  // file itself, mapped read-only. The client keeps its last 64 such mappings
  // (at most 256 MiB) and names the file it holds in the request; while the
  // daemon still serves that very file it answers "unchanged" without a
  // descriptor and the same mapping is returned (passing and mapping a
  // descriptor cost 8–30 µs per hit on the VMs we measured, against a round
  // trip of 21–29 µs). A kept mapping pins its file's disk space
  // after an eviction until it leaves the client's list.
  Result<AudioBuffer> Get(std::string_view engine, std::string_view text, Format format,
                          const OpusParams& params = DaemonDefaultOpus(), bool descriptor = true);
  Status Put(std::string_view engine, std::string_view text, std::span<const uint8_t> wav);
  // Adopts a WAV another cache holds (PUT_FILE): passes `fd`, a regular file
  // open for reading, and the daemon stores a copy of it as the entry `key`
  // (the SHA-256 the Node module named the file by) of `engine`, last used
  // at `last_used_ns` (Unix ns, e.g. the file's mtime; 0: now). The caller
  // keeps `fd`. The reply says whether it was stored, already cached, or
  // evicted at once (older than everything in a full cache).
  Result<ipc::PutFileReply> PutFileByKey(std::string_view engine, std::span<const uint8_t, 32> key,
                                         int fd, uint64_t last_used_ns);
  Result<AudioBuffer> Encode(std::span<const uint8_t> wav,
                             const OpusParams& params = DaemonDefaultOpus());
  Result<AudioBuffer> PutEncode(std::string_view engine, std::string_view text,
                                std::span<const uint8_t> wav,
                                const OpusParams& params = DaemonDefaultOpus());

  // Shared memory. AttachArena creates a sealed memfd of `bytes` and hands it
  // to the daemon; arena() is its mapping. Offsets below are into it.
  Status AttachArena(size_t bytes);
  std::span<uint8_t> arena() const;
  Status PutFromArena(std::string_view engine, std::string_view text, uint64_t offset,
                      uint64_t length);
  // Encodes arena[offset, +length) into arena[out_offset, +out_capacity);
  // returns the Opus size. Too small: Errc::kBufferTooSmall, the message says how much.
  Result<uint64_t> EncodeInArena(uint64_t offset, uint64_t length, uint64_t out_offset,
                                 uint64_t out_capacity,
                                 const OpusParams& params = DaemonDefaultOpus());

  // Which of `keys` (SHA-256 digests, 32 bytes each) the engine holds, in
  // order; any number (sent in requests of ipc::kMaxKeysPerHas). Counts no
  // hit or miss.
  Result<std::vector<bool>> HasKeys(std::string_view engine,
                                    std::span<const std::array<uint8_t, 32>> keys);

  // Starts an encode stream (EncodeStream above). With an engine and a text
  // (both or neither) the finished stream is stored as that entry, WAV and
  // Opus variant, so the next Get of the phrase is a hit.
  Result<EncodeStream> OpenEncodeStream(const StreamFormat& format, EncodeStream::PageSink on_pages,
                                        const OpusParams& params = DaemonDefaultOpus(),
                                        std::string_view engine = {}, std::string_view text = {});
  // Stats with the encode stream counters (has_streams is false from a
  // daemon that predates them).
  Result<ipc::StatsReply> StatsWithStreams();

  // Pipelining: send now, collect later, in any order.
  Result<uint64_t> SendGet(std::string_view engine, std::string_view text, Format format,
                           const OpusParams& params = DaemonDefaultOpus(), bool descriptor = true);
  Result<AudioBuffer> ReceiveGet(uint64_t request_id);

 private:
  friend class EncodeStream;
  struct Reply {
    uint8_t opcode = 0;
    std::vector<uint8_t> body;
    UniqueFd fd;
  };
  Client();
  Status Reconnect();
  Status CheckPeer();
  // Ends the connection after the daemon broke the protocol; the next call
  // starts on a new one.
  Error DropConnection(std::string why);
  Result<uint64_t> Send(ipc::Opcode op, std::span<const uint8_t> body, int fd = -1);
  Result<Reply> Receive(uint64_t request_id);
  // The reply if it has arrived, without waiting; nullopt if not yet.
  Result<std::optional<Reply>> Poll(uint64_t request_id);
  Result<std::optional<Reply>> ReceiveOrPoll(uint64_t request_id, bool block);
  int socket_fd() const { return socket_.get(); }
  // The daemon's ERROR reply body as an Error.
  static Error ErrorFromBody(std::span<const uint8_t> body);
  // A reply to `request_id`, when it comes, is dropped (a stream aborted).
  void Abandon(uint64_t request_id);
  // `fd`, when not -1, travels with the request (SCM_RIGHTS); the caller keeps it.
  Result<Reply> Call(ipc::Opcode op, const std::vector<uint8_t>& body, int fd = -1);
  // A GET/ENCODE reply as audio. With `known_key` (a descriptor GET that may
  // have named a kept mapping): "unchanged" returns that mapping, and a newly
  // passed file is kept under the key.
  Result<AudioBuffer> AudioFromReply(Reply reply, const std::string* known_key = nullptr);
  void RememberMapping(const std::string& request_key, const ipc::FileId& id,
                       std::shared_ptr<const ipc::MappedRegion> mapping);

  struct KnownFile {
    ipc::FileId id;
    std::shared_ptr<const ipc::MappedRegion> mapping;
    uint64_t last_use = 0;
  };

  ClientOptions options_;
  UniqueFd socket_;
  uint64_t next_id_ = 1;
  std::unique_ptr<ipc::FrameReader> reader_;  // received bytes and descriptors, per frame
  std::set<uint64_t> outstanding_;            // sent, reply not yet received
  std::map<uint64_t, Reply> early_;  // replies that came before they were asked for (⊆ sent)
  std::set<uint64_t> abandoned_;     // requests that timed out: their late replies are dropped
  UniqueFd arena_fd_;
  ipc::MappedRegion arena_;
  std::map<std::string, KnownFile> known_files_;  // by (engine, text, format, params)
  void ForgetMapping(std::map<std::string, KnownFile>::iterator known);
  uint64_t known_bytes_ = 0;
  uint64_t use_clock_ = 0;
};

}  // namespace ttscache
