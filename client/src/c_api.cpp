// The C API (ttscache.h) over the C++ Client: errors become int codes plus a
// per-handle message; buffers own an AudioBuffer behind an opaque pointer;
// a stream owns an EncodeStream and calls the C callback from its page sink.
// No exception crosses into C: the stream calls (which allocate frames and
// strings) catch at the edge.
#include "ttscache/ttscache.h"

#include <charconv>
#include <cstdlib>
#include <exception>
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

struct ttscache_stream {
  ttscache_client* client = nullptr;  // borrowed; outlives the stream
  ttscache_pages_fn on_pages = nullptr;
  void* user = nullptr;
  std::optional<ttscache::EncodeStream> stream;
  std::string note;  // ttscache_stream_result::note points here
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

// Runs a stream call, turning an escaping exception (out of memory) into an
// error code and message on the client.
template <class Fn>
int Guarded(ttscache_client* c, Fn&& fn) noexcept {
  try {
    return fn();
  } catch (const std::bad_alloc&) {
    if (c) c->last_error = "out of memory";
    return TTSCACHE_ERR_INTERNAL;
  } catch (const std::exception& e) {
    try {
      if (c) c->last_error = e.what();
    } catch (...) {
    }
    return TTSCACHE_ERR_INTERNAL;
  } catch (...) {
    if (c) c->last_error = "unknown exception";
    return TTSCACHE_ERR_INTERNAL;
  }
}

int StreamStatus(ttscache_stream* s, const ttscache::Status& status) {
  if (!status) return Fail(s->client, status.error());
  s->client->last_error.clear();
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
  ttscache::Result<ttscache::PutFileResult> r =
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

int ttscache_stream_open(ttscache_client* client, const ttscache_stream_format* format,
                         int bitrate_kbps, const char* engine, const char* text, size_t text_length,
                         ttscache_pages_fn on_pages, void* user, ttscache_stream** out) {
  if (out) *out = nullptr;
  if (!client || !format || !out || (!text && text_length)) {
    return Invalid(client, "NULL argument");
  }
  if (!engine != !text) return Invalid(client, "give both engine and text, or neither");
  ttscache::StreamFormat f;
  if (format->input == TTSCACHE_STREAM_WAV) {
    f.wav = true;
  } else if (format->input == TTSCACHE_STREAM_RAW) {
    if (format->sample_format < TTSCACHE_SAMPLE_U8 ||
        format->sample_format > TTSCACHE_SAMPLE_F64LE) {
      return Invalid(client, "sample_format must be one of TTSCACHE_SAMPLE_*");
    }
    if (format->channels < 1 || format->channels > 2)
      return Invalid(client, "channels must be 1 or 2");
    if (format->sample_rate <= 0) return Invalid(client, "sample_rate must be positive");
    f.sample_format = static_cast<ttscache::SampleFormat>(format->sample_format);
    f.channels = format->channels;
    f.sample_rate = format->sample_rate;
  } else {
    return Invalid(client, "input must be TTSCACHE_STREAM_RAW or TTSCACHE_STREAM_WAV");
  }
  return Guarded(client, [&]() -> int {
    if (int rc = EnsureConnected(client); rc != TTSCACHE_OK) return rc;
    auto* s = new (std::nothrow) ttscache_stream;
    if (!s) return Invalid(client, "out of memory");
    s->client = client;
    s->on_pages = on_pages;
    s->user = user;
    auto sink = [s](std::span<const uint8_t> pages) {
      if (s->on_pages) s->on_pages(s->user, pages.data(), pages.size());
    };
    ttscache::Result<ttscache::EncodeStream> opened = client->client->OpenEncodeStream(
        f, sink, Params(bitrate_kbps), engine ? std::string_view(engine) : std::string_view(),
        text ? std::string_view(text, text_length) : std::string_view());
    if (!opened) {
      delete s;
      return Fail(client, opened.error());
    }
    s->stream.emplace(std::move(*opened));
    client->last_error.clear();
    *out = s;
    return TTSCACHE_OK;
  });
}

int ttscache_stream_push(ttscache_stream* stream, const void* data, size_t length) {
  if (!stream) return TTSCACHE_ERR_INVALID_ARGUMENT;
  if (!data && length) return Invalid(stream->client, "NULL argument");
  return Guarded(stream->client, [&] {
    return StreamStatus(stream, stream->stream->Push({static_cast<const uint8_t*>(data), length}));
  });
}

int ttscache_stream_wait(ttscache_stream* stream, int timeout_ms) {
  if (!stream) return TTSCACHE_ERR_INVALID_ARGUMENT;
  return Guarded(stream->client, [&] {
    return StreamStatus(stream, timeout_ms > 0 ? stream->stream->WaitForPages(timeout_ms)
                                               : stream->stream->Collect());
  });
}

int ttscache_stream_poll_fd(const ttscache_stream* stream) {
  return stream ? stream->stream->poll_fd() : -1;
}

int ttscache_stream_finish(ttscache_stream* stream, ttscache_stream_result* out) {
  if (!stream) return TTSCACHE_ERR_INVALID_ARGUMENT;
  if (out) *out = ttscache_stream_result{0, TTSCACHE_CACHED_NOT_ASKED, ""};
  return Guarded(stream->client, [&]() -> int {
    ttscache::Result<ttscache::StreamResult> end = stream->stream->Finish();
    if (!end) return Fail(stream->client, end.error());
    stream->note = std::move(end->note);
    if (out) {
      out->samples_48k = end->samples_48k;
      out->cached = end->cached == ttscache::StreamResult::Cached::kStored ? TTSCACHE_CACHED_STORED
                    : end->cached == ttscache::StreamResult::Cached::kNotStored
                        ? TTSCACHE_CACHED_NOT_STORED
                        : TTSCACHE_CACHED_NOT_ASKED;
      out->note = stream->note.c_str();
    }
    stream->client->last_error.clear();
    return TTSCACHE_OK;
  });
}

int ttscache_stream_abort(ttscache_stream* stream) {
  if (!stream) return TTSCACHE_ERR_INVALID_ARGUMENT;
  return Guarded(stream->client, [&] { return StreamStatus(stream, stream->stream->Abort()); });
}

void ttscache_stream_free(ttscache_stream* stream) {
  if (!stream) return;
  // ~EncodeStream aborts an open stream; an exception there must not reach C.
  (void)Guarded(stream->client, [&] {
    stream->stream.reset();
    return TTSCACHE_OK;
  });
  delete stream;
}

}  // extern "C"
