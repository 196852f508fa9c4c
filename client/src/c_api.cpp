// The C API (ttscache.h) over the C++ Client: errors become int codes plus a
// per-handle message; buffers own an AudioBuffer behind an opaque pointer.
#include "ttscache/ttscache.h"

#include <charconv>
#include <cstdlib>
#include <new>
#include <optional>
#include <string>

#include "ttscache/client.hpp"

struct ttscache_client {
  ttscache::ClientOptions options;
  std::optional<ttscache::Client> client;
  std::string last_error;
  std::string setup_error;  // a bad environment value, reported by the first call
};

namespace {

int CodeOf(ttscache::Errc e) {
  using ttscache::Errc;
  switch (e) {
    case Errc::kNotFound:
      return TTSCACHE_MISS;
    case Errc::kInvalidArgument:
      return TTSCACHE_ERR_BAD_REQUEST;
    case Errc::kBadAudio:
      return TTSCACHE_ERR_BAD_AUDIO;
    case Errc::kUnknownEngine:
      return TTSCACHE_ERR_UNKNOWN_ENGINE;
    case Errc::kTooLarge:
      return TTSCACHE_ERR_TOO_LARGE;
    case Errc::kBusy:
      return TTSCACHE_ERR_BUSY;
    case Errc::kForbidden:
      return TTSCACHE_ERR_FORBIDDEN;
    case Errc::kUnavailable:
      return TTSCACHE_ERR_UNAVAILABLE;
    default:
      return TTSCACHE_ERR_INTERNAL;
  }
}

int Fail(ttscache_client* c, const ttscache::Error& e) {
  c->last_error = e.message;
  return CodeOf(e.code);
}

int Invalid(ttscache_client* c, const char* what) {
  if (c) c->last_error = what;
  return TTSCACHE_ERR_INVALID_ARGUMENT;
}

int EnsureConnected(ttscache_client* c) {
  if (c->client) return TTSCACHE_OK;
  if (!c->setup_error.empty()) return Invalid(c, c->setup_error.c_str());
  ttscache::Result<ttscache::Client> client = ttscache::Client::Connect(c->options);
  if (!client) return Fail(c, client.error());
  c->client.emplace(std::move(*client));
  return TTSCACHE_OK;
}

ttscache::OpusParams Params(int bitrate_kbps) {
  ttscache::OpusParams p = ttscache::DaemonDefaultOpus();
  p.bitrate_kbps = bitrate_kbps;
  return p;
}

int Deliver(ttscache_client* c, ttscache::Result<ttscache::AudioBuffer> audio,
            ttscache_buffer* out) {
  if (!audio) return Fail(c, audio.error());
  auto* owner = new (std::nothrow) ttscache::AudioBuffer(std::move(*audio));
  if (!owner) return Invalid(c, "out of memory");
  out->data = owner->u8().data();
  out->size = owner->size();
  out->owner_ = owner;
  c->last_error.clear();
  return TTSCACHE_OK;
}

}  // namespace

extern "C" {

ttscache_client* ttscache_client_new(const char* socket_path, int timeout_ms) {
  auto* c = new (std::nothrow) ttscache_client;
  if (!c) return nullptr;
  const char* env = std::getenv("TTSCACHE_SOCKET");
  c->options.socket_path =
      socket_path ? socket_path : (env && *env ? env : "/run/ttscache/ttscached.sock");
  c->options.timeout_ms = timeout_ms > 0 ? timeout_ms : 10000;
  // The uid the daemon must run as (default: the socket file's owner or root).
  if (const char* uid = std::getenv("TTSCACHE_DAEMON_UID"); uid && *uid) {
    const std::string_view text(uid);
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), c->options.daemon_uid);
    if (ec != std::errc() || end != text.data() + text.size() || c->options.daemon_uid < 0 ||
        c->options.daemon_uid > 0xFFFFFFFELL) {
      c->setup_error = "TTSCACHE_DAEMON_UID=" + std::string(text) + " is not a uid";
    }
  }
  return c;
}

void ttscache_client_free(ttscache_client* client) { delete client; }

int ttscache_client_connect(ttscache_client* client) {
  if (!client) return Invalid(client, "NULL client");
  return EnsureConnected(client);
}

const char* ttscache_last_error(const ttscache_client* client) {
  return client ? client->last_error.c_str() : "NULL client";
}

int ttscache_ping(ttscache_client* client) {
  if (!client) return Invalid(client, "NULL client");
  if (int rc = EnsureConnected(client); rc != TTSCACHE_OK) return rc;
  ttscache::Status s = client->client->Ping();
  return s ? TTSCACHE_OK : Fail(client, s.error());
}

int ttscache_put(ttscache_client* client, const char* engine, const char* text, size_t text_length,
                 const uint8_t* wav, size_t wav_length) {
  if (!client || !engine || (!text && text_length) || (!wav && wav_length)) {
    return Invalid(client, "NULL argument");
  }
  if (int rc = EnsureConnected(client); rc != TTSCACHE_OK) return rc;
  ttscache::Status s = client->client->Put(engine, {text, text_length}, {wav, wav_length});
  return s ? TTSCACHE_OK : Fail(client, s.error());
}

int ttscache_put_file_by_key(ttscache_client* client, const char* engine, const uint8_t key[32],
                             int fd, uint64_t last_used_ns, int* outcome) {
  if (!client || !engine || !key) return Invalid(client, "NULL argument");
  if (fd < 0) return Invalid(client, "fd must be an open file descriptor");
  if (int rc = EnsureConnected(client); rc != TTSCACHE_OK) return rc;
  ttscache::Result<ttscache::ipc::PutFileReply> r =
      client->client->PutFileByKey(engine, std::span<const uint8_t, 32>(key, 32), fd, last_used_ns);
  if (!r) return Fail(client, r.error());
  if (outcome) *outcome = static_cast<int>(r->outcome);
  return TTSCACHE_OK;
}

int ttscache_get(ttscache_client* client, const char* engine, const char* text, size_t text_length,
                 int format, int bitrate_kbps, ttscache_buffer* out) {
  if (!client || !engine || (!text && text_length) || !out) return Invalid(client, "NULL argument");
  if (format != TTSCACHE_FORMAT_WAV && format != TTSCACHE_FORMAT_OPUS) {
    return Invalid(client, "format must be TTSCACHE_FORMAT_WAV or TTSCACHE_FORMAT_OPUS");
  }
  *out = ttscache_buffer{nullptr, 0, nullptr};
  if (int rc = EnsureConnected(client); rc != TTSCACHE_OK) return rc;
  return Deliver(client,
                 client->client->Get(engine, {text, text_length},
                                     format == TTSCACHE_FORMAT_WAV ? ttscache::Format::kWav
                                                                   : ttscache::Format::kOpus,
                                     Params(bitrate_kbps)),
                 out);
}

int ttscache_encode(ttscache_client* client, const uint8_t* wav, size_t wav_length,
                    int bitrate_kbps, ttscache_buffer* out) {
  if (!client || (!wav && wav_length) || !out) return Invalid(client, "NULL argument");
  *out = ttscache_buffer{nullptr, 0, nullptr};
  if (int rc = EnsureConnected(client); rc != TTSCACHE_OK) return rc;
  return Deliver(client, client->client->Encode({wav, wav_length}, Params(bitrate_kbps)), out);
}

void ttscache_buffer_free(ttscache_buffer* buffer) {
  if (!buffer) return;
  delete static_cast<ttscache::AudioBuffer*>(buffer->owner_);
  *buffer = ttscache_buffer{nullptr, 0, nullptr};
}

}  // extern "C"
