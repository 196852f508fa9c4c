// Client::Impl (internal::ClientImpl): one connection to ttscached and everything a Client keeps
// between calls — request ids and the replies not yet asked for, the arena,
// the mappings of recently passed files. It speaks the wire types (ipc/); the
// public Client (client.cpp) converts them to the API's own types and is the
// barrier no exception crosses. EncodeStream (encode_stream.cpp) sends and
// receives through it. Used by one thread at a time, like the Client.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/mapped_region.hpp"
#include "core/result.hpp"
#include "core/unique_fd.hpp"
#include "ipc/messages.hpp"
#include "ipc/shared_memory.hpp"
#include "ttscache/client.hpp"

namespace ttscache {
namespace ipc {
class FrameReader;
}

namespace internal {
// STATS' wire reply as the API's Stats (client.cpp).
ttscache::Stats StatsFromWire(const ipc::StatsReply& w);
}  // namespace internal

// Not exported (it is outside the classes marked TTSCACHE_EXPORT) and not
// part of the ABI: abi/libttscache.suppr leaves ttscache::internal out.
class internal::ClientImpl {
 public:
  struct Reply {
    uint8_t opcode = 0;
    std::vector<uint8_t> body;
    UniqueFd fd;
  };

  static Result<std::unique_ptr<ClientImpl>> Connect(const ClientOptions& options);
  ClientImpl();
  ~ClientImpl();

  Status Ping();
  Result<ipc::HelloReply> Hello();
  Result<ipc::StatsReply> Stats(uint8_t flags);
  Result<AudioBuffer> Get(std::string_view engine, std::string_view text, Format format,
                          const OpusParams& params, bool descriptor);
  Status Put(std::string_view engine, std::string_view text, std::span<const uint8_t> wav);
  Result<ipc::PutFileReply> PutFileByKey(std::string_view engine, std::span<const uint8_t, 32> key,
                                         int fd, uint64_t last_used_ns);
  Result<AudioBuffer> Encode(std::span<const uint8_t> wav, const OpusParams& params);
  Result<AudioBuffer> PutEncode(std::string_view engine, std::string_view text,
                                std::span<const uint8_t> wav, const OpusParams& params);
  Status AttachArena(size_t bytes);
  std::span<uint8_t> arena() const { return arena_.bytes(); }
  Status PutFromArena(std::string_view engine, std::string_view text, uint64_t offset,
                      uint64_t length);
  Result<uint64_t> EncodeInArena(uint64_t offset, uint64_t length, uint64_t out_offset,
                                 uint64_t out_capacity, const OpusParams& params);
  Result<std::vector<bool>> HasKeys(std::string_view engine,
                                    std::span<const std::array<uint8_t, 32>> keys);
  // Operating the cache (client_operate.cpp): the wire's replies checked
  // and turned into the API's types.
  Result<DeleteResult> Delete(std::string_view engine, ipc::DeleteBy by, std::string_view text,
                              std::span<const uint8_t> key);
  Result<PurgeResult> Purge(std::string_view engine);
  Result<ListPage> List(uint64_t cursor, const ListFilter& filter, uint32_t max_entries);
  Status ForEachEntry(const ListFilter& filter,
                      const std::function<bool(const ListedEntry&)>& each);
  Result<VerifyResult> Verify(bool repair);
  Result<ttscache::StatsDetail> StatsDetail();
  // Coordinating synthesis (client_coordinate.cpp): claims and slots, each
  // reply checked against the request before the caller sees it.
  Result<ClaimedGet> GetOrClaim(std::string_view engine, std::string_view text, Format format,
                                uint32_t wait_ms, const OpusParams& params, bool descriptor);
  Result<bool> DropClaim(std::string_view engine, std::string_view text);
  Result<SlotHold> AcquireSlot(std::string_view name, uint32_t wait_ms);
  Status ReleaseSlot(uint64_t hold);
  Result<CoordinationStats> Coordination();
  // The fleet tier's counters (client_tier.cpp), checked against the bounds
  // of the daemon's [tier] settings.
  Result<TierStats> Tier();
  Result<ipc::StreamOpenReply> OpenEncodeStream(const StreamFormat& format,
                                                const OpusParams& params, std::string_view engine,
                                                std::string_view text);
  Result<uint64_t> SendGet(std::string_view engine, std::string_view text, Format format,
                           const OpusParams& params, bool descriptor);
  Result<AudioBuffer> ReceiveGet(uint64_t request_id);

  // For EncodeStream: requests pipelined on this connection.
  Result<uint64_t> Send(ipc::Opcode op, std::span<const uint8_t> body, int fd = -1);
  // `extra_wait_ms` lengthens the wait beyond the connection's timeout, for
  // requests the daemon may hold that long on purpose (a claim's or a slot's wait).
  Result<Reply> Receive(uint64_t request_id, int64_t extra_wait_ms = 0);
  // The reply if it has arrived (or, with `block`, when it does); nullopt if not yet.
  Result<std::optional<Reply>> ReceiveOrPoll(uint64_t request_id, bool block,
                                             int64_t extra_wait_ms = 0);
  // A reply to `request_id`, when it comes, is dropped (a stream aborted).
  void Abandon(uint64_t request_id);
  int socket_fd() const { return socket_.get(); }
  // Which connection this is: changes whenever the connection is replaced
  // or dropped. Request ids and stream ids name something only on the
  // connection they were sent on.
  uint64_t connection() const { return connection_; }
  // A call's bound passed (kUnavailable, but the connection may still be up).
  static bool IsTimedOut(const Error& e);
  // The daemon's ERROR reply body as an Error.
  static Error ErrorFromBody(std::span<const uint8_t> body);
  // A reply body as decoded; one that does not decode is the daemon's fault
  // (kInternal), never the caller's bad request.
  template <class T>
  static Result<T> FromDaemon(Result<T> decoded) {
    if (decoded) return decoded;
    return MakeError(Errc::kInternal,
                     "malformed reply from the daemon: " + decoded.error().message);
  }

 private:
  Status Reconnect();
  Status CheckPeer();
  // Ends the connection after the daemon broke the protocol; the next call
  // starts on a new one.
  Error DropConnection(std::string why);
  // `fd`, when not -1, travels with the request (SCM_RIGHTS); the caller keeps it.
  Result<Reply> Call(ipc::Opcode op, const std::vector<uint8_t>& body, int fd = -1,
                     int64_t extra_wait_ms = 0);
  // A late reply to a request that timed out: a slot unit granted to nobody
  // is given back at once rather than held until the connection closes.
  void OnAbandonedReply(uint8_t request_opcode, const Reply& reply);
  // Sends a GET (with the mapping kept for it as `known`, by descriptor) and
  // waits for its reply; a claiming GET waits up to wait_ms longer. Sets
  // *known_key (descriptor only) for AudioFromReply; a miss forgets the mapping.
  Result<Reply> CallGet(std::string_view engine, std::string_view text, Format format,
                        const OpusParams& params, bool descriptor, bool claim, uint32_t wait_ms,
                        std::string* known_key);
  // A GET/ENCODE reply as audio. With `known_key` (a descriptor GET that may
  // have named a kept mapping): "unchanged" returns that mapping, and a newly
  // passed file is kept under the key.
  Result<AudioBuffer> AudioFromReply(Reply reply, const std::string* known_key = nullptr);

  struct KnownFile {
    ipc::FileId id;
    std::shared_ptr<const MappedRegion> mapping;
    uint64_t last_use = 0;
  };
  using KnownFiles = std::map<std::string, KnownFile>;  // by (engine, text, format, params)
  void RememberMapping(const std::string& request_key, const ipc::FileId& id,
                       std::shared_ptr<const MappedRegion> mapping);
  void ForgetMapping(KnownFiles::iterator known);

  ClientOptions options_;
  UniqueFd socket_;
  uint64_t next_id_ = 1;
  uint64_t connection_ = 0;
  uint64_t connection_first_id_ = 1;          // requests below it went on an earlier connection
  std::unique_ptr<ipc::FrameReader> reader_;  // received bytes and descriptors, per frame
  std::map<uint64_t, uint8_t> outstanding_;   // sent, reply not yet received: id → opcode
  std::map<uint64_t, Reply> early_;  // replies that came before they were asked for (⊆ sent)
  // Requests that timed out (id → opcode): their late replies are dropped.
  std::map<uint64_t, uint8_t> abandoned_;
  // Slot units held (client_coordinate.cpp), by the id the caller was given:
  // the daemon's hold ids name a unit only on the connection that acquired
  // it, and a unit is released when its connection closes, so a hold from an
  // earlier connection must not release a later one that got the same id.
  struct HeldUnit {
    uint64_t connection = 0;
    uint64_t daemon_hold = 0;
  };
  std::map<uint64_t, HeldUnit> holds_;
  uint64_t next_hold_ = 1;
  UniqueFd arena_fd_;
  MappedRegion arena_;
  KnownFiles known_files_;
  uint64_t known_bytes_ = 0;
  uint64_t use_clock_ = 0;
};

}  // namespace ttscache
