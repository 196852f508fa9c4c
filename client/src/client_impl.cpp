// See client_impl.hpp. Every wait is bounded by the timeout, so a stuck daemon
// cannot hang the caller. Sends never block (MSG_DONTWAIT, then poll()). The
// first wait for a reply is a blocking receive bounded by SO_RCVTIMEO (set to
// the timeout at connect): for a small reply that one system call is the whole
// wait, where poll() would add two — a measurable part of a ~20 µs round trip
// (docs/benchmarks.md). Later waits in the same call poll the remaining time.
#include "client/src/client_impl.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <deque>

#include "core/audio/opus_params.hpp"
#include "ipc/error_codes.hpp"
#include "ipc/fd_passing.hpp"
#include "ipc/frame.hpp"
#include "ipc/frame_reader.hpp"

namespace ttscache {
namespace {

// Request id 0 is never used by the client: the daemon uses it for errors about
// the connection itself (a refused peer, a bad header; docs/protocol.md).
constexpr uint64_t kConnectionErrorId = 0;

// A timeout is kUnavailable like a lost connection, but a call that timed
// out is not retried on a new connection: the caller's bound is spent.
constexpr std::string_view kTimedOut = "timed out waiting for the daemon";
Error TimedOut() { return MakeError(Errc::kUnavailable, std::string(kTimedOut)); }
bool IsTimeout(const Error& e) { return e.code == Errc::kUnavailable && e.message == kTimedOut; }

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Timed-out requests whose late replies are still awaited. Past this many the
// connection is dropped instead (the daemon is not answering anyway).
constexpr size_t kMaxAbandoned = 256;

// The largest audio the client maps from a passed descriptor: far above any
// cached utterance, far below what would exhaust the address space.
constexpr uint64_t kMaxMappedAudio = 4ull << 30;

// The daemon's ERROR reply as an Error, or a clear error if it is malformed.
Error ErrorFromReply(std::span<const uint8_t> body) {
  Result<ipc::ErrorReply> e = ipc::DecodeErrorReply(body);
  if (!e) return MakeError(Errc::kInternal, "undecodable error reply: " + e.error().message);
  return MakeError(ipc::FromWireError(e->code), e->message);
}

bool IsError(uint8_t opcode) { return opcode == static_cast<uint8_t>(ipc::Opcode::kError); }

AudioBuffer MappedAudio(std::shared_ptr<const MappedRegion> mapping) {
  const std::span<const uint8_t> bytes = mapping->bytes();
  return AudioBuffer(std::move(mapping), bytes, /*mapped=*/bytes.size() != 0);
}

// A passed descriptor is mapped and read only if it is a regular file at
// least `size` bytes long: reading a mapping past the end of its file raises
// SIGBUS, and a device or pipe has no length to trust.
Status CheckAudioDescriptor(int fd, uint64_t size) {
  struct stat st;
  if (::fstat(fd, &st) != 0) return ErrnoError(errno, "fstat the daemon's descriptor");
  if (!S_ISREG(st.st_mode)) {
    return MakeError(Errc::kInternal, "the daemon passed a descriptor that is not a regular file");
  }
  if (size > kMaxMappedAudio) {
    return MakeError(Errc::kInternal, "the daemon announced " + std::to_string(size) +
                                          " bytes of audio, more than the limit of " +
                                          std::to_string(kMaxMappedAudio));
  }
  if (static_cast<uint64_t>(st.st_size) < size) {
    return MakeError(Errc::kInternal, "the daemon announced " + std::to_string(size) +
                                          " bytes of audio in a file of " +
                                          std::to_string(st.st_size));
  }
  return {};
}

// The wire carries bitrate_kbps as a u16 and complexity as a u8: a value
// they cannot hold would be truncated into another setting (65600 kbit/s
// into 64, 65536 into 0, "the daemon's settings"). Refused here, with the
// range the daemon would name.
Status CheckOpus(const OpusParams& params) {
  if (params.bitrate_kbps == 0) return {};  // the daemon's settings; the rest is ignored
  if (Status valid = Validate(params); !valid) {
    return MakeError(Errc::kInvalidArgument, "opus parameters: " + valid.error().message);
  }
  return {};
}

Status WaitFor(int fd, short events, int64_t deadline_ms) {
  while (true) {
    int64_t left = deadline_ms - NowMs();
    if (left <= 0) return TimedOut();
    pollfd p{fd, events, 0};
    int n = ::poll(&p, 1, static_cast<int>(left));
    if (n > 0) return {};
    if (n < 0 && errno != EINTR) return ErrnoError(errno, "poll");
  }
}

}  // namespace

internal::ClientImpl::ClientImpl() : reader_(std::make_unique<ipc::FrameReader>()) {}
internal::ClientImpl::~ClientImpl() = default;

Result<std::unique_ptr<Client::Impl>> Client::Impl::Connect(const ClientOptions& options) {
  auto c = std::make_unique<Client::Impl>();
  c->options_ = options;
  if (Status s = c->Reconnect(); !s) return s.error();
  return c;
}

Status Client::Impl::Reconnect() {
  ++connection_;  // what was sent on the old connection is never answered
  connection_first_id_ = next_id_;
  socket_.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!socket_.valid()) return ErrnoError(errno, "socket");
  // Bounds the blocking connect (a full listen backlog) and first receive.
  const timeval limit{options_.timeout_ms / 1000, (options_.timeout_ms % 1000) * 1000};
  if (options_.timeout_ms <= 0 ||
      ::setsockopt(socket_.get(), SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof(limit)) != 0 ||
      ::setsockopt(socket_.get(), SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof(limit)) != 0) {
    return MakeError(Errc::kInvalidArgument,
                     "bad timeout: " + std::to_string(options_.timeout_ms) + " ms");
  }
  reader_ = std::make_unique<ipc::FrameReader>();
  outstanding_.clear();
  early_.clear();
  abandoned_.clear();
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (options_.socket_path.size() >= sizeof(addr.sun_path)) {
    return MakeError(Errc::kInvalidArgument, "socket path too long: " + options_.socket_path);
  }
  std::memcpy(addr.sun_path, options_.socket_path.data(), options_.socket_path.size());
  int connected;
  do {
    connected = ::connect(socket_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  } while (connected != 0 && errno == EINTR);
  if (connected != 0) {
    return MakeError(Errc::kUnavailable, "cannot connect to ttscached at " + options_.socket_path +
                                             ": " + ErrnoText(errno));
  }
  if (Status s = CheckPeer(); !s) {
    socket_.reset();
    return s;
  }
  if (arena_fd_.valid()) {
    std::vector<uint8_t> body = ipc::EncodeArenaRequest(arena_.size());
    Result<uint64_t> id = Send(ipc::Opcode::kArena, body, arena_fd_.get());
    if (!id) return id.error();
    Result<Reply> r = Receive(*id);
    if (!r) return r.error();
    if (IsError(r->opcode)) return ErrorFromReply(r->body);
  }
  return {};
}

Status Client::Impl::CheckPeer() {
  ucred peer{};
  socklen_t length = sizeof(peer);
  if (::getsockopt(socket_.get(), SOL_SOCKET, SO_PEERCRED, &peer, &length) != 0) {
    return ErrnoError(errno, "SO_PEERCRED");
  }
  // Root is always accepted: it could subvert the client anyway, and the
  // kernel reports whoever called listen() — under socket activation that is
  // systemd, not the daemon's own uid.
  if (peer.uid == 0) return {};
  std::string expected;
  if (options_.daemon_uid >= 0) {
    if (peer.uid == static_cast<uid_t>(options_.daemon_uid)) return {};
    expected = "uid " + std::to_string(options_.daemon_uid) + " (as configured) or root";
  } else {
    struct stat st;
    if (::stat(options_.socket_path.c_str(), &st) != 0) {
      return MakeError(Errc::kForbidden,
                       "cannot check who owns " + options_.socket_path + ": " + ErrnoText(errno));
    }
    if (peer.uid == st.st_uid) return {};
    expected = "uid " + std::to_string(st.st_uid) + " (the socket file's owner) or root";
  }
  return MakeError(Errc::kForbidden, "refusing the daemon at " + options_.socket_path +
                                         ": it runs as uid " + std::to_string(peer.uid) +
                                         ", expected " + expected);
}

Error Client::Impl::DropConnection(std::string why) {
  ++connection_;
  connection_first_id_ = next_id_;
  socket_.reset();
  reader_ = std::make_unique<ipc::FrameReader>();
  outstanding_.clear();
  early_.clear();
  abandoned_.clear();
  return MakeError(Errc::kInternal, "protocol violation by the daemon, connection closed: " + why);
}

Result<uint64_t> Client::Impl::Send(ipc::Opcode op, std::span<const uint8_t> body, int fd) {
  // The caller's descriptor, checked before anything is sent: sendmsg's
  // EBADF would read as a lost connection (and be retried on a new one).
  if (fd >= 0 && ::fcntl(fd, F_GETFD) == -1) {
    return MakeError(Errc::kInvalidArgument,
                     "descriptor " + std::to_string(fd) + " to pass is not open");
  }
  if (!socket_.valid()) return MakeError(Errc::kUnavailable, "not connected to the daemon");
  const uint64_t id = next_id_++;
  std::vector<uint8_t> frame =
      ipc::BuildFrame(static_cast<uint8_t>(op), id, body, fd >= 0 ? ipc::kFlagFd : 0);
  const int64_t deadline = NowMs() + options_.timeout_ms;
  size_t sent = 0;
  while (sent < frame.size()) {
    Result<size_t> n = ipc::SendWithFd(socket_.get(), {frame.data() + sent, frame.size() - sent},
                                       sent == 0 ? fd : -1);
    if (!n) return MakeError(Errc::kUnavailable, "lost the daemon: " + n.error().message);
    sent += *n;
    if (*n == 0) {
      if (Status s = WaitFor(socket_.get(), POLLOUT, deadline); !s) {
        // Part of a frame on the stream would garble every later one: drop
        // the connection, so the next call starts on a new one.
        if (sent > 0) socket_.reset();
        return s.error();
      }
    }
  }
  outstanding_[id] = static_cast<uint8_t>(op);
  return id;
}

Result<Client::Impl::Reply> Client::Impl::Receive(uint64_t request_id, int64_t extra_wait_ms) {
  Result<std::optional<Reply>> r = ReceiveOrPoll(request_id, /*block=*/true, extra_wait_ms);
  if (!r) return r.error();
  return std::move(**r);  // blocking: a reply, or an error
}

Result<std::optional<Client::Impl::Reply>> Client::Impl::ReceiveOrPoll(uint64_t request_id,
                                                                       bool block,
                                                                       int64_t extra_wait_ms) {
  if (auto it = early_.find(request_id); it != early_.end()) {
    std::optional<Reply> r = std::move(it->second);
    early_.erase(it);
    return r;
  }
  if (!socket_.valid()) return MakeError(Errc::kUnavailable, "not connected to the daemon");
  // A request sent on an earlier connection is never answered: the daemon
  // that got it is gone (a reconnect cleared what was outstanding). Waiting
  // for it would only spend the whole timeout.
  if (request_id != kConnectionErrorId && request_id < connection_first_id_) {
    return MakeError(Errc::kUnavailable, "no reply is due for request " +
                                             std::to_string(request_id) +
                                             ": the connection it was sent on is gone");
  }
  const int64_t deadline = NowMs() + options_.timeout_ms + std::max<int64_t>(extra_wait_ms, 0);
  // SO_RCVTIMEO is the connection's timeout: a longer wait polls instead.
  bool first_wait = extra_wait_ms <= 0;
  while (true) {
    while (std::optional<ipc::ReceivedFrame> received = reader_->Next()) {
      const ipc::FrameHeader& h = received->frame.header;
      Reply reply;
      reply.opcode = h.opcode;
      reply.body = std::move(received->frame.body);
      if (!received->fds.empty()) reply.fd = std::move(received->fds.front());
      // An ERROR with request id 0 is about the connection itself (a refused
      // peer, a bad frame) and is sent just before the daemon closes it: it
      // answers whatever was asked.
      const bool about_connection = h.request_id == kConnectionErrorId && IsError(h.opcode);
      if (!about_connection) {
        if (auto gone = abandoned_.find(h.request_id); gone != abandoned_.end()) {
          const uint8_t request_opcode = gone->second;
          abandoned_.erase(gone);
          OnAbandonedReply(request_opcode, reply);  // nobody waits for it
          continue;
        }
      }
      // Only a request that was sent and not yet answered may be answered,
      // and only by its own reply or an ERROR: anything else would be stored
      // for nobody, without bound, or read as another message.
      if (!about_connection) {
        auto sent = outstanding_.find(h.request_id);
        if (sent == outstanding_.end()) {
          return DropConnection("a reply for request " + std::to_string(h.request_id) +
                                ", which is not outstanding");
        }
        const uint8_t expected = sent->second | ipc::kReplyBit;
        if (h.opcode != expected && !IsError(h.opcode)) {
          return DropConnection("reply opcode " + std::to_string(h.opcode) + " to request " +
                                std::to_string(h.request_id) + ", expected " +
                                std::to_string(expected) + " or ERROR");
        }
        outstanding_.erase(sent);
      }
      if (h.request_id == request_id || about_connection) {
        return std::optional<Reply>(std::move(reply));
      }
      early_[h.request_id] = std::move(reply);
    }
    uint8_t buffer[65536];
    std::vector<UniqueFd> fds;
    const ipc::Wait wait = first_wait ? ipc::Wait::kUpToSocketTimeout : ipc::Wait::kNever;
    Result<size_t> n = ipc::ReceiveWithFds(socket_.get(), buffer, &fds, ipc::kMaxFdsPerMessage,
                                           block ? wait : ipc::Wait::kNever);
    if (!n && n.error().code == Errc::kNotFound) {
      if (!block) return std::optional<Reply>();       // nothing more has arrived yet
      Status waited = first_wait ? Status(TimedOut())  // SO_RCVTIMEO passed
                                 : WaitFor(socket_.get(), POLLIN, deadline);
      if (!waited) {
        if (auto sent = outstanding_.find(request_id);
            IsTimeout(waited.error()) && sent != outstanding_.end()) {
          const uint8_t request_opcode = sent->second;
          outstanding_.erase(sent);
          if (abandoned_.size() >= kMaxAbandoned) {
            DropConnection("too many requests timed out");
            return waited.error();
          }
          abandoned_[request_id] = request_opcode;
        }
        return waited.error();
      }
      continue;
    }
    first_wait = false;
    if (!n) return MakeError(Errc::kUnavailable, "lost the daemon: " + n.error().message);
    if (*n == 0) return MakeError(Errc::kUnavailable, "the daemon closed the connection");
    if (Status s = reader_->Feed({buffer, *n}, std::move(fds)); !s) {
      return DropConnection("bad reply: " + s.error().message);
    }
  }
}

Result<Client::Impl::Reply> Client::Impl::Call(ipc::Opcode op, const std::vector<uint8_t>& body,
                                               int fd, int64_t extra_wait_ms) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    Result<uint64_t> id = Send(op, body, fd);
    Result<Reply> reply = id ? Receive(*id, extra_wait_ms) : Result<Reply>(id.error());
    if (!id && !IsTimeout(id.error())) {
      // The daemon may have refused this connection (FORBIDDEN) and closed it
      // before our request went out: its reason is already queued to read.
      if (Result<Reply> why = Receive(kConnectionErrorId);
          why && why->opcode == static_cast<uint8_t>(ipc::Opcode::kError)) {
        reply = std::move(why);
      }
    }
    if (reply || reply.error().code != Errc::kUnavailable || IsTimeout(reply.error()) ||
        attempt == 1) {
      if (reply && IsError(reply->opcode)) return ErrorFromReply(reply->body);
      return reply;
    }
    // The daemon may have restarted: one new connection, one retry.
    if (Status s = Reconnect(); !s) return s.error();
  }
  return MakeError(Errc::kUnavailable, "unreachable");
}

Status Client::Impl::Ping() {
  Result<Reply> r = Call(ipc::Opcode::kPing, {});
  return r ? Status() : Status(r.error());
}

Result<ipc::HelloReply> Client::Impl::Hello() {
  Result<Reply> r =
      Call(ipc::Opcode::kHello, ipc::EncodeHelloRequest(ipc::kVersion, ipc::kVersion));
  if (!r) return r.error();
  Result<ipc::HelloReply> hello = FromDaemon(ipc::DecodeHelloReply(r->body));
  if (hello && hello->version != ipc::kVersion) {
    return MakeError(Errc::kInternal, "the daemon chose protocol version " +
                                          std::to_string(hello->version) + ", outside the " +
                                          std::to_string(ipc::kVersion) + ".." +
                                          std::to_string(ipc::kVersion) + " asked");
  }
  return hello;
}

Result<ipc::StatsReply> Client::Impl::Stats(uint8_t flags) {
  // A daemon that predates the flags takes an empty body.
  Result<Reply> r =
      Call(ipc::Opcode::kStats, flags ? ipc::EncodeStatsRequest(flags) : std::vector<uint8_t>());
  if (!r) return r.error();
  return FromDaemon(ipc::DecodeStatsReply(r->body, flags));
}

Result<ipc::PutFileReply> Client::Impl::PutFileByKey(std::string_view engine,
                                                     std::span<const uint8_t, 32> key, int fd,
                                                     uint64_t last_used_ns) {
  if (fd < 0) return MakeError(Errc::kInvalidArgument, "PutFileByKey: no file descriptor");
  ipc::PutFileRequest p{engine, key, last_used_ns};
  Result<Reply> r = Call(ipc::Opcode::kPutFile, ipc::EncodePutFileRequest(p), fd);
  if (!r) return r.error();
  return FromDaemon(ipc::DecodePutFileReply(r->body));
}

Result<std::vector<bool>> Client::Impl::HasKeys(std::string_view engine,
                                                std::span<const std::array<uint8_t, 32>> keys) {
  std::vector<bool> cached;
  for (size_t at = 0; at < keys.size(); at += ipc::kMaxKeysPerHas) {
    const size_t n = std::min<size_t>(ipc::kMaxKeysPerHas, keys.size() - at);
    std::vector<uint8_t> raw;
    raw.reserve(n * 32);
    for (size_t i = at; i < at + n; ++i) raw.insert(raw.end(), keys[i].begin(), keys[i].end());
    Result<Reply> r = Call(ipc::Opcode::kHasKeys, ipc::EncodeHasKeysRequest({engine, raw}));
    if (!r) return r.error();
    Result<std::vector<bool>> part = FromDaemon(ipc::DecodeHasKeysReply(r->body));
    if (!part) return part.error();
    if (part->size() != n) {
      return DropConnection("HAS_KEYS answered " + std::to_string(part->size()) + " of " +
                            std::to_string(n) + " keys");
    }
    cached.insert(cached.end(), part->begin(), part->end());
  }
  return cached;
}

bool Client::Impl::IsTimedOut(const Error& e) { return IsTimeout(e); }

Error Client::Impl::ErrorFromBody(std::span<const uint8_t> body) { return ErrorFromReply(body); }

Result<AudioBuffer> Client::Impl::AudioFromReply(Reply reply, const std::string* known_key) {
  if (IsError(reply.opcode)) return ErrorFromReply(reply.body);
  Result<ipc::AudioReply> a = FromDaemon(ipc::DecodeAudioReply(reply.body));
  if (!a) return a.error();
  if (a->place == ipc::AudioPlace::kClaimed) {
    // Only GetOrClaim asks for a claim (client_coordinate.cpp checks its own
    // replies). Closing the connection gives the claim the daemon thinks we
    // hold back to whoever waits for it.
    return DropConnection("a claimed reply to a request that did not claim");
  }
  if (a->place == ipc::AudioPlace::kUnchanged) {
    auto known = known_key ? known_files_.find(*known_key) : known_files_.end();
    if (known == known_files_.end() || !(known->second.id == a->file) ||
        known->second.mapping->size() != a->size) {
      return MakeError(Errc::kInternal, "the daemon answered 'unchanged' for a file not mapped");
    }
    known->second.last_use = ++use_clock_;
    return MappedAudio(known->second.mapping);
  }
  if (reply.fd.valid()) {
    if (Status s = CheckAudioDescriptor(reply.fd.get(), a->size); !s) return s.error();
    Result<MappedRegion> m = MappedRegion::Map(reply.fd.get(), a->size, false, "cached file");
    if (!m) return m.error();
    auto mapping = std::make_shared<const MappedRegion>(std::move(*m));
    if (known_key) RememberMapping(*known_key, a->file, mapping);  // ignores a missing id
    return MappedAudio(std::move(mapping));
  }
  if (a->place != ipc::AudioPlace::kInline) {
    return MakeError(Errc::kInternal, "the daemon announced audio by descriptor but passed none");
  }
  return AudioBuffer(std::vector<uint8_t>(a->bytes.begin(), a->bytes.end()));
}

void Client::Impl::ForgetMapping(KnownFiles::iterator known) {
  known_bytes_ -= known->second.mapping->size();
  known_files_.erase(known);
}

void Client::Impl::RememberMapping(const std::string& request_key, const ipc::FileId& id,
                                   std::shared_ptr<const MappedRegion> mapping) {
  constexpr size_t kMaxKnownFiles = 64;
  constexpr uint64_t kMaxKnownBytes = 256ull << 20;
  if (!id.valid() || mapping->size() > kMaxKnownBytes) return;
  if (auto old = known_files_.find(request_key); old != known_files_.end()) ForgetMapping(old);
  while (!known_files_.empty() && (known_files_.size() >= kMaxKnownFiles ||
                                   known_bytes_ + mapping->size() > kMaxKnownBytes)) {
    auto oldest = known_files_.begin();
    for (auto it = known_files_.begin(); it != known_files_.end(); ++it) {
      if (it->second.last_use < oldest->second.last_use) oldest = it;
    }
    ForgetMapping(oldest);
  }
  known_bytes_ += mapping->size();
  known_files_[request_key] = KnownFile{id, std::move(mapping), ++use_clock_};
}

namespace {

std::vector<uint8_t> GetBody(std::string_view engine, std::string_view text, Format format,
                             const OpusParams& params, bool descriptor, ipc::FileId known = {},
                             bool claim = false, uint32_t wait_ms = 0) {
  ipc::GetRequest g{engine,
                    text,
                    format == Format::kWav ? ipc::AudioFormat::kWav : ipc::AudioFormat::kOpus,
                    params,
                    descriptor ? ipc::Delivery::kDescriptor : ipc::Delivery::kInline,
                    known};
  g.claim = claim;
  g.wait_ms = wait_ms;
  return ipc::EncodeGetRequest(g);
}

// What a kept mapping answers: the request, not the daemon's key (the client
// does not normalize texts; two spellings of one entry just keep two names).
std::string KnownFileKey(std::string_view engine, std::string_view text, Format format,
                         const OpusParams& params) {
  std::string key(engine);
  key += '\0';
  key += text;
  key += '\0';
  key += format == Format::kWav ? "wav" : VariantTag(params);
  return key;
}

}  // namespace

Result<Client::Impl::Reply> Client::Impl::CallGet(std::string_view engine, std::string_view text,
                                                  Format format, const OpusParams& params,
                                                  bool descriptor, bool claim, uint32_t wait_ms,
                                                  std::string* known_key) {
  if (Status s = CheckOpus(params); !s) return s.error();
  // The daemon holds a claiming GET up to wait_ms on purpose.
  const int64_t extra_wait_ms = claim ? wait_ms : 0;
  if (!descriptor) {
    return Call(ipc::Opcode::kGet, GetBody(engine, text, format, params, false, {}, claim, wait_ms),
                -1, extra_wait_ms);
  }
  *known_key = KnownFileKey(engine, text, format, params);
  auto known = known_files_.find(*known_key);
  Result<Reply> r =
      Call(ipc::Opcode::kGet,
           GetBody(engine, text, format, params, true,
                   known != known_files_.end() ? known->second.id : ipc::FileId{}, claim, wait_ms),
           -1, extra_wait_ms);
  if (!r && r.error().code == Errc::kNotFound) {
    // Looked up again: the call may have replaced the connection, never the map.
    if (auto stale = known_files_.find(*known_key); stale != known_files_.end()) {
      ForgetMapping(stale);
    }
  }
  return r;
}

Result<AudioBuffer> Client::Impl::Get(std::string_view engine, std::string_view text, Format format,
                                      const OpusParams& params, bool descriptor) {
  std::string key;
  Result<Reply> r = CallGet(engine, text, format, params, descriptor, false, 0, &key);
  if (!r) return r.error();
  return AudioFromReply(std::move(*r), descriptor ? &key : nullptr);
}

Result<uint64_t> Client::Impl::SendGet(std::string_view engine, std::string_view text,
                                       Format format, const OpusParams& params, bool descriptor) {
  if (Status s = CheckOpus(params); !s) return s.error();
  return Send(ipc::Opcode::kGet, GetBody(engine, text, format, params, descriptor));
}

Result<AudioBuffer> Client::Impl::ReceiveGet(uint64_t request_id) {
  Result<Reply> r = Receive(request_id);
  if (!r) return r.error();
  return AudioFromReply(std::move(*r));
}

Status Client::Impl::Put(std::string_view engine, std::string_view text,
                         std::span<const uint8_t> wav) {
  ipc::PutRequest p{engine, text, {ipc::AudioPlace::kInline, wav, 0, 0}};
  Result<Reply> r = Call(ipc::Opcode::kPut, ipc::EncodePutRequest(p));
  return r ? Status() : Status(r.error());
}

Result<AudioBuffer> Client::Impl::Encode(std::span<const uint8_t> wav, const OpusParams& params) {
  if (Status s = CheckOpus(params); !s) return s.error();
  ipc::EncodeRequest e{params, {ipc::AudioPlace::kInline, wav, 0, 0}, {}};
  Result<Reply> r = Call(ipc::Opcode::kEncode, ipc::EncodeEncodeRequest(e));
  if (!r) return r.error();
  return AudioFromReply(std::move(*r));
}

Result<AudioBuffer> Client::Impl::PutEncode(std::string_view engine, std::string_view text,
                                            std::span<const uint8_t> wav,
                                            const OpusParams& params) {
  if (Status s = CheckOpus(params); !s) return s.error();
  ipc::PutEncodeRequest p{engine, text, params, {ipc::AudioPlace::kInline, wav, 0, 0}, {}};
  Result<Reply> r = Call(ipc::Opcode::kPutEncode, ipc::EncodePutEncodeRequest(p));
  if (!r) return r.error();
  return AudioFromReply(std::move(*r));
}

Status Client::Impl::AttachArena(size_t bytes) {
  Result<UniqueFd> fd = ipc::CreateSealedMemfd("ttscache-arena", bytes);
  if (!fd) return fd.error();
  Result<MappedRegion> mapping = MappedRegion::Map(fd->get(), bytes, true, "arena");
  if (!mapping) return mapping.error();
  Result<uint64_t> id = Send(ipc::Opcode::kArena, ipc::EncodeArenaRequest(bytes), fd->get());
  if (!id) return id.error();
  Result<Reply> r = Receive(*id);
  if (!r) return r.error();
  if (IsError(r->opcode)) return ErrorFromReply(r->body);
  arena_fd_ = std::move(*fd);
  arena_ = std::move(*mapping);
  return {};
}

Status Client::Impl::PutFromArena(std::string_view engine, std::string_view text, uint64_t offset,
                                  uint64_t length) {
  ipc::PutRequest p{engine, text, {ipc::AudioPlace::kArena, {}, offset, length}};
  Result<Reply> r = Call(ipc::Opcode::kPut, ipc::EncodePutRequest(p));
  return r ? Status() : Status(r.error());
}

Result<uint64_t> Client::Impl::EncodeInArena(uint64_t offset, uint64_t length, uint64_t out_offset,
                                             uint64_t out_capacity, const OpusParams& params) {
  // The daemon writes pages while it still reads the WAV: an output range
  // over the input would encode audio it had overwritten itself.
  const auto end = [](uint64_t at, uint64_t n) { return at + n < at ? UINT64_MAX : at + n; };
  if (length != 0 && out_capacity != 0 && offset < end(out_offset, out_capacity) &&
      out_offset < end(offset, length)) {
    return MakeError(Errc::kInvalidArgument, "the output range overlaps the input range");
  }
  if (Status s = CheckOpus(params); !s) return s.error();
  ipc::EncodeRequest e{params,
                       {ipc::AudioPlace::kArena, {}, offset, length},
                       {ipc::AudioPlace::kArena, out_offset, out_capacity}};
  Result<Reply> r = Call(ipc::Opcode::kEncode, ipc::EncodeEncodeRequest(e));
  if (!r) return r.error();
  Result<ipc::AudioReply> a = FromDaemon(ipc::DecodeAudioReply(r->body));
  if (!a) return a.error();
  if (a->place != ipc::AudioPlace::kArena || a->size > out_capacity) {
    return MakeError(Errc::kInternal, "the daemon reported " + std::to_string(a->size) +
                                          " bytes of Opus for an output range of " +
                                          std::to_string(out_capacity));
  }
  return a->size;
}

Result<ipc::StreamOpenReply> Client::Impl::OpenEncodeStream(const StreamFormat& format,
                                                            const OpusParams& params,
                                                            std::string_view engine,
                                                            std::string_view text) {
  if (Status s = CheckOpus(params); !s) return s.error();
  ipc::StreamOpenRequest o;
  if (format.wav) {
    o.input = ipc::StreamInput::kWav;
    o.sample_format = 0;
    o.channels = 0;
    o.sample_rate = 0;
  } else {
    o.sample_format = static_cast<uint8_t>(format.sample_format);
    o.channels = static_cast<uint8_t>(format.channels);
    o.sample_rate = static_cast<uint32_t>(format.sample_rate);
  }
  o.params = params;
  o.engine = engine;
  o.text = text;
  Result<Reply> r = Call(ipc::Opcode::kStreamOpen, ipc::EncodeStreamOpenRequest(o));
  if (!r) return r.error();
  return FromDaemon(ipc::DecodeStreamOpenReply(r->body));
}

void Client::Impl::Abandon(uint64_t request_id) {
  early_.erase(request_id);
  if (auto sent = outstanding_.find(request_id); sent != outstanding_.end()) {
    abandoned_[request_id] = sent->second;
    outstanding_.erase(sent);
  }
}

}  // namespace ttscache
