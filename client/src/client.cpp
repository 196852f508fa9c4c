// See client.hpp. The public Client is a thin layer over Client::Impl
// (client_impl.hpp): each call crosses the exception barrier once, and the
// wire's types become the API's own here, so the wire can change without
// changing the library's ABI.
#include "ttscache/client.hpp"

#include "client/src/client_impl.hpp"
#include "client/src/exception_barrier.hpp"
#include "ttscache/build_info.hpp"

namespace ttscache {

ttscache::Stats internal::StatsFromWire(const ipc::StatsReply& w) {
  ttscache::Stats s;
  s.engines.reserve(w.engines.size());
  for (const ipc::EngineStatsWire& e : w.engines) {
    s.engines.push_back(EngineStats{e.name, e.entries, e.bytes, e.hits, e.misses, e.puts,
                                    e.evictions, e.variant_hits, e.variant_misses});
  }
  s.connections = w.connections;
  s.requests = w.requests;
  s.busy = w.busy;
  s.errors = w.errors;
  s.encodes = w.encodes;
  s.shared_encodes = w.shared_encodes;
  s.has_limits = w.has_limits;
  s.max_entries = w.max_entries;
  s.max_bytes = w.max_bytes;
  s.has_streams = w.has_streams;
  s.streams_open = w.streams_open;
  s.streams_opened = w.streams_opened;
  s.streams_stored = w.streams_stored;
  s.streams_failed = w.streams_failed;
  return s;
}

namespace {

Result<ttscache::Stats> StatsOf(Client::Impl& impl, uint8_t flags) {
  Result<ipc::StatsReply> w = impl.Stats(flags);
  if (!w) return w.error();
  return internal::StatsFromWire(*w);
}

Error NotConnected() { return MakeError(Errc::kInvalidArgument, "the client was moved from"); }

}  // namespace

AudioBuffer::AudioBuffer(std::vector<uint8_t> bytes) {
  auto owned = std::make_shared<const std::vector<uint8_t>>(std::move(bytes));
  data_ = owned->data();
  size_ = owned->size();
  owner_ = std::move(owned);
}

AudioBuffer::AudioBuffer(std::shared_ptr<const void> owner, std::span<const uint8_t> bytes,
                         bool mapped)
    : owner_(std::move(owner)), data_(bytes.data()), size_(bytes.size()), mapped_(mapped) {}

Client::Client(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Client::Client(Client&&) noexcept = default;
Client& Client::operator=(Client&&) noexcept = default;
Client::~Client() = default;

const char* Client::LibraryVersion() { return build::kVersion; }

Result<Client> Client::Connect(const ClientOptions& options) {
  return CatchAtEdge([&]() -> Result<Client> {
    Result<std::unique_ptr<Impl>> impl = Impl::Connect(options);
    if (!impl) return impl.error();
    return Client(std::move(*impl));
  });
}

// Every call: refuse a moved-from Client, then run `body` behind the barrier.
#define TTSCACHE_CALL(body)          \
  if (!impl_) return NotConnected(); \
  return CatchAtEdge([&] { return body; })

Status Client::Ping() { TTSCACHE_CALL(impl_->Ping()); }

Result<ttscache::Hello> Client::Hello() {
  TTSCACHE_CALL(([&]() -> Result<ttscache::Hello> {
    Result<ipc::HelloReply> w = impl_->Hello();
    if (!w) return w.error();
    return ttscache::Hello{w->version, w->max_frame_body, w->max_text_bytes, w->max_inflight,
                           w->max_arena_bytes};
  })());
}

Result<ttscache::Stats> Client::Stats() { TTSCACHE_CALL(StatsOf(*impl_, 0)); }
Result<ttscache::Stats> Client::StatsWithLimits() {
  TTSCACHE_CALL(StatsOf(*impl_, ipc::kStatsLimits));
}
Result<ttscache::Stats> Client::StatsWithStreams() {
  TTSCACHE_CALL(StatsOf(*impl_, ipc::kStatsLimits | ipc::kStatsStreams));
}

Result<AudioBuffer> Client::Get(std::string_view engine, std::string_view text, Format format,
                                const OpusParams& params, bool descriptor) {
  TTSCACHE_CALL(impl_->Get(engine, text, format, params, descriptor));
}

Status Client::Put(std::string_view engine, std::string_view text, std::span<const uint8_t> wav) {
  TTSCACHE_CALL(impl_->Put(engine, text, wav));
}

Result<PutFileResult> Client::PutFileByKey(std::string_view engine,
                                           std::span<const uint8_t, 32> key, int fd,
                                           uint64_t last_used_ns) {
  TTSCACHE_CALL(([&]() -> Result<PutFileResult> {
    Result<ipc::PutFileReply> w = impl_->PutFileByKey(engine, key, fd, last_used_ns);
    if (!w) return w.error();
    return PutFileResult{static_cast<PutFileOutcome>(w->outcome), w->size};
  })());
}

Result<AudioBuffer> Client::Encode(std::span<const uint8_t> wav, const OpusParams& params) {
  TTSCACHE_CALL(impl_->Encode(wav, params));
}

Result<AudioBuffer> Client::PutEncode(std::string_view engine, std::string_view text,
                                      std::span<const uint8_t> wav, const OpusParams& params) {
  TTSCACHE_CALL(impl_->PutEncode(engine, text, wav, params));
}

Status Client::AttachArena(size_t bytes) { TTSCACHE_CALL(impl_->AttachArena(bytes)); }

std::span<uint8_t> Client::arena() const { return impl_ ? impl_->arena() : std::span<uint8_t>(); }

Status Client::PutFromArena(std::string_view engine, std::string_view text, uint64_t offset,
                            uint64_t length) {
  TTSCACHE_CALL(impl_->PutFromArena(engine, text, offset, length));
}

Result<uint64_t> Client::EncodeInArena(uint64_t offset, uint64_t length, uint64_t out_offset,
                                       uint64_t out_capacity, const OpusParams& params) {
  TTSCACHE_CALL(impl_->EncodeInArena(offset, length, out_offset, out_capacity, params));
}

Result<std::vector<bool>> Client::HasKeys(std::string_view engine,
                                          std::span<const std::array<uint8_t, 32>> keys) {
  TTSCACHE_CALL(impl_->HasKeys(engine, keys));
}

Result<DeleteResult> Client::Delete(std::string_view engine, std::string_view text) {
  TTSCACHE_CALL(impl_->Delete(engine, ipc::DeleteBy::kText, text, {}));
}

Result<DeleteResult> Client::DeleteKey(std::string_view engine, std::span<const uint8_t, 32> key) {
  TTSCACHE_CALL(impl_->Delete(engine, ipc::DeleteBy::kKey, {}, key));
}

Result<PurgeResult> Client::Purge(std::string_view engine) { TTSCACHE_CALL(impl_->Purge(engine)); }

Result<ListPage> Client::List(uint64_t cursor, const ListFilter& filter, uint32_t max_entries) {
  TTSCACHE_CALL(impl_->List(cursor, filter, max_entries));
}

Status Client::ForEachEntry(const ListFilter& filter,
                            const std::function<bool(const ListedEntry&)>& each) {
  TTSCACHE_CALL(impl_->ForEachEntry(filter, each));
}

Result<VerifyResult> Client::Verify(bool repair) { TTSCACHE_CALL(impl_->Verify(repair)); }

Result<ttscache::StatsDetail> Client::StatsDetail() { TTSCACHE_CALL(impl_->StatsDetail()); }

Result<ClaimedGet> Client::GetOrClaim(std::string_view engine, std::string_view text, Format format,
                                      uint32_t wait_ms, const OpusParams& params, bool descriptor) {
  TTSCACHE_CALL(impl_->GetOrClaim(engine, text, format, wait_ms, params, descriptor));
}

Result<bool> Client::DropClaim(std::string_view engine, std::string_view text) {
  TTSCACHE_CALL(impl_->DropClaim(engine, text));
}

Result<SlotHold> Client::AcquireSlot(std::string_view name, uint32_t wait_ms) {
  TTSCACHE_CALL(impl_->AcquireSlot(name, wait_ms));
}

Status Client::ReleaseSlot(const SlotHold& hold) { TTSCACHE_CALL(impl_->ReleaseSlot(hold.id)); }

Result<CoordinationStats> Client::Coordination() { TTSCACHE_CALL(impl_->Coordination()); }
Result<TierStats> Client::Tier() { TTSCACHE_CALL(impl_->Tier()); }

// Client::OpenEncodeStream is in encode_stream.cpp, beside the state it builds.

Result<uint64_t> Client::SendGet(std::string_view engine, std::string_view text, Format format,
                                 const OpusParams& params, bool descriptor) {
  TTSCACHE_CALL(impl_->SendGet(engine, text, format, params, descriptor));
}

Result<AudioBuffer> Client::ReceiveGet(uint64_t request_id) {
  TTSCACHE_CALL(impl_->ReceiveGet(request_id));
}

#undef TTSCACHE_CALL

}  // namespace ttscache
