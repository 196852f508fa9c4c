// The C API (ttscache.h) over the C++ Client: the handle, the version, Opus
// parameters, and the calls that move audio inline (put, get, encode,
// put-encode, adopt by key). Error codes, the arena, the daemon's stats and
// hello, pipelined gets and encode streams have their own files
// (c_api_errors.cpp, c_api_arena.cpp, c_api_info.cpp, c_api_stream.cpp);
// what they share is in c_api_internal.hpp. Buffers own an AudioBuffer
// behind an opaque pointer.
#include <fcntl.h>

#include <charconv>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "c_api_internal.hpp"
#include "core/audio/opus_params.hpp"
#include "ttscache/build_info.hpp"

namespace ttscache::capi {

namespace {

#define TTSCACHE_STR2(x) #x
#define TTSCACHE_STR(x) TTSCACHE_STR2(x)
constexpr std::string_view kHeaderVersion = TTSCACHE_STR(TTSCACHE_VERSION_MAJOR) "." TTSCACHE_STR(
    TTSCACHE_VERSION_MINOR) "." TTSCACHE_STR(TTSCACHE_VERSION_PATCH);
static_assert(kHeaderVersion == std::string_view(build::kVersion),
              "ttscache.h's TTSCACHE_VERSION_* differ from the project's version");

}  // namespace

int EnsureConnected(ttscache_client* c) {
  if (c->client) return TTSCACHE_OK;
  if (!c->setup_error.empty()) return Invalid(c, c->setup_error.c_str());
  Result<Client> client = Client::Connect(c->options);
  if (!client) return Fail(c, client.error());
  c->client.emplace(std::move(*client));
  return TTSCACHE_OK;
}

int ToParams(ttscache_client* c, const ttscache_opus_params* in, OpusParams* out) {
  *out = DaemonDefaultOpus();
  if (!in) return TTSCACHE_OK;
  for (int r : in->reserved_) {
    if (r != 0) return Invalid(c, "ttscache_opus_params.reserved_ must be 0 (use _init)");
  }
  if (in->bitrate_kbps == 0) return TTSCACHE_OK;
  OpusParams p;  // the library's defaults for the fields left 0
  p.bitrate_kbps = in->bitrate_kbps;
  switch (in->vbr) {
    case TTSCACHE_VBR_DEFAULT:
    case TTSCACHE_VBR_ON:
      p.vbr = VbrMode::kOn;
      break;
    case TTSCACHE_VBR_OFF:
      p.vbr = VbrMode::kOff;
      break;
    case TTSCACHE_VBR_CONSTRAINED:
      p.vbr = VbrMode::kConstrained;
      break;
    default:
      return Invalid(c, "vbr must be one of TTSCACHE_VBR_*");
  }
  switch (in->application) {
    case TTSCACHE_APPLICATION_DEFAULT:
    case TTSCACHE_APPLICATION_VOIP:
      p.application = OpusApplication::kVoip;
      break;
    case TTSCACHE_APPLICATION_AUDIO:
      p.application = OpusApplication::kAudio;
      break;
    case TTSCACHE_APPLICATION_LOWDELAY:
      p.application = OpusApplication::kLowDelay;
      break;
    default:
      return Invalid(c, "application must be one of TTSCACHE_APPLICATION_*");
  }
  p.complexity = in->complexity;
  if (in->frame_us != 0) p.frame_us = in->frame_us;
  if (Status valid = Validate(p); !valid) {
    c->last_error = valid.error().message;
    return TTSCACHE_ERR_INVALID_ARGUMENT;
  }
  *out = p;
  return TTSCACHE_OK;
}

OpusParams BitrateOnly(int bitrate_kbps) {
  OpusParams p = DaemonDefaultOpus();
  p.bitrate_kbps = bitrate_kbps;
  return p;
}

int Deliver(ttscache_client* c, Result<AudioBuffer> audio, ttscache_buffer* out) {
  if (!audio) return Fail(c, audio.error());
  auto* owner = new AudioBuffer(std::move(*audio));
  out->data = owner->u8().data();
  out->size = owner->size();
  out->owner_ = owner;
  return Ok(c);
}

const char* BadText(const char* text, size_t length) {
  if (!text && length) return "NULL text with a length";
  if (length > UINT32_MAX) return "text longer than 4 GiB";
  return nullptr;
}

const char* BadBytes(const void* data, size_t length) {
  if (!data && length) return "NULL data with a length";
  if (length > UINT32_MAX) return "data longer than 4 GiB (use the arena)";
  return nullptr;
}

}  // namespace ttscache::capi

using namespace ttscache::capi;  // NOLINT: the C entry points below are its callers

namespace {

int GetWith(ttscache_client* client, const char* engine, const char* text, size_t text_length,
            int format, const ttscache::OpusParams& params, ttscache_buffer* out) {
  if (!client || !engine || !out) return Invalid(client, "NULL argument");
  if (const char* bad = BadText(text, text_length)) return Invalid(client, bad);
  if (format != TTSCACHE_FORMAT_WAV && format != TTSCACHE_FORMAT_OPUS) {
    return Invalid(client, "format must be TTSCACHE_FORMAT_WAV or TTSCACHE_FORMAT_OPUS");
  }
  if (int rc = EnsureConnected(client); rc != TTSCACHE_OK) return rc;
  return Deliver(
      client,
      client->client->Get(
          engine, {text, text_length},
          format == TTSCACHE_FORMAT_WAV ? ttscache::Format::kWav : ttscache::Format::kOpus, params),
      out);
}

int EncodeWith(ttscache_client* client, const uint8_t* wav, size_t wav_length,
               const ttscache::OpusParams& params, ttscache_buffer* out) {
  if (!client || !out) return Invalid(client, "NULL argument");
  if (const char* bad = BadBytes(wav, wav_length)) return Invalid(client, bad);
  if (int rc = EnsureConnected(client); rc != TTSCACHE_OK) return rc;
  return Deliver(client, client->client->Encode({wav, wav_length}, params), out);
}

}  // namespace

extern "C" {

const char* ttscache_version(void) { return ttscache::build::kVersion; }

int ttscache_version_number(void) {
  return TTSCACHE_VERSION_MAJOR * 10000 + TTSCACHE_VERSION_MINOR * 100 + TTSCACHE_VERSION_PATCH;
}

void ttscache_opus_params_init(ttscache_opus_params* params) {
  if (!params) return;
  *params = ttscache_opus_params{};
  params->complexity = 10;
}

ttscache_client* ttscache_client_new(const char* socket_path, int timeout_ms) {
  try {
    auto c = std::make_unique<ttscache_client>();
    const char* env = std::getenv("TTSCACHE_SOCKET");
    c->options.socket_path =
        socket_path ? socket_path : (env && *env ? env : "/run/ttscache/ttscached.sock");
    c->options.timeout_ms = timeout_ms > 0 ? timeout_ms : 10000;
    // The uid the daemon must run as (default: the socket file's owner or root).
    if (const char* uid = std::getenv("TTSCACHE_DAEMON_UID"); uid && *uid) {
      const std::string_view text(uid);
      auto [end, ec] =
          std::from_chars(text.data(), text.data() + text.size(), c->options.daemon_uid);
      if (ec != std::errc() || end != text.data() + text.size() || c->options.daemon_uid < 0 ||
          c->options.daemon_uid > 0xFFFFFFFELL) {
        c->setup_error = "TTSCACHE_DAEMON_UID=" + std::string(text) + " is not a uid";
      }
    }
    return c.release();
  } catch (...) {
    return nullptr;  // out of memory: the only failure it reports
  }
}

void ttscache_client_free(ttscache_client* client) {
  // Closing the connection and unmapping cannot throw; the guard is for the rule.
  (void)Guarded(nullptr, [&] {
    delete client;
    return TTSCACHE_OK;
  });
}

int ttscache_client_connect(ttscache_client* client) {
  if (!client) return Invalid(client, "NULL client");
  return Guarded(client, [&] {
    int rc = EnsureConnected(client);
    return rc == TTSCACHE_OK ? Ok(client) : rc;
  });
}

const char* ttscache_last_error(const ttscache_client* client) {
  return client ? client->last_error.c_str() : "NULL client";
}

int ttscache_ping(ttscache_client* client) {
  if (!client) return Invalid(client, "NULL client");
  return Guarded(client, [&] {
    if (int rc = EnsureConnected(client); rc != TTSCACHE_OK) return rc;
    ttscache::Status s = client->client->Ping();
    return s ? Ok(client) : Fail(client, s.error());
  });
}

int ttscache_put(ttscache_client* client, const char* engine, const char* text, size_t text_length,
                 const uint8_t* wav, size_t wav_length) {
  if (!client || !engine) return Invalid(client, "NULL argument");
  if (const char* bad = BadText(text, text_length)) return Invalid(client, bad);
  if (const char* bad = BadBytes(wav, wav_length)) return Invalid(client, bad);
  return Guarded(client, [&] {
    if (int rc = EnsureConnected(client); rc != TTSCACHE_OK) return rc;
    ttscache::Status s = client->client->Put(engine, {text, text_length}, {wav, wav_length});
    return s ? Ok(client) : Fail(client, s.error());
  });
}

int ttscache_put_file_by_key(ttscache_client* client, const char* engine, const uint8_t key[32],
                             int fd, uint64_t last_used_ns, int* outcome) {
  if (!client || !engine || !key) return Invalid(client, "NULL argument");
  if (fd < 0 || ::fcntl(fd, F_GETFD) == -1) {
    return Invalid(client, "fd must be an open file descriptor");
  }
  return Guarded(client, [&] {
    if (int rc = EnsureConnected(client); rc != TTSCACHE_OK) return rc;
    auto r = client->client->PutFileByKey(engine, std::span<const uint8_t, 32>(key, 32), fd,
                                          last_used_ns);
    if (!r) return Fail(client, r.error());
    if (outcome) *outcome = static_cast<int>(r->outcome);
    return Ok(client);
  });
}

int ttscache_get_ex(ttscache_client* client, const char* engine, const char* text,
                    size_t text_length, int format, const ttscache_opus_params* params,
                    ttscache_buffer* out) {
  if (out) *out = ttscache_buffer{nullptr, 0, nullptr};
  if (!client) return Invalid(client, "NULL client");
  return Guarded(client, [&] {
    ttscache::OpusParams p;
    if (int rc = ToParams(client, params, &p); rc != TTSCACHE_OK) return rc;
    return GetWith(client, engine, text, text_length, format, p, out);
  });
}

int ttscache_get(ttscache_client* client, const char* engine, const char* text, size_t text_length,
                 int format, int bitrate_kbps, ttscache_buffer* out) {
  if (out) *out = ttscache_buffer{nullptr, 0, nullptr};
  return Guarded(client, [&] {
    return GetWith(client, engine, text, text_length, format, BitrateOnly(bitrate_kbps), out);
  });
}

int ttscache_encode_ex(ttscache_client* client, const uint8_t* wav, size_t wav_length,
                       const ttscache_opus_params* params, ttscache_buffer* out) {
  if (out) *out = ttscache_buffer{nullptr, 0, nullptr};
  if (!client) return Invalid(client, "NULL client");
  return Guarded(client, [&] {
    ttscache::OpusParams p;
    if (int rc = ToParams(client, params, &p); rc != TTSCACHE_OK) return rc;
    return EncodeWith(client, wav, wav_length, p, out);
  });
}

int ttscache_encode(ttscache_client* client, const uint8_t* wav, size_t wav_length,
                    int bitrate_kbps, ttscache_buffer* out) {
  if (out) *out = ttscache_buffer{nullptr, 0, nullptr};
  return Guarded(
      client, [&] { return EncodeWith(client, wav, wav_length, BitrateOnly(bitrate_kbps), out); });
}

int ttscache_put_encode(ttscache_client* client, const char* engine, const char* text,
                        size_t text_length, const uint8_t* wav, size_t wav_length,
                        const ttscache_opus_params* params, ttscache_buffer* out) {
  if (out) *out = ttscache_buffer{nullptr, 0, nullptr};
  if (!client || !engine || !out) return Invalid(client, "NULL argument");
  if (const char* bad = BadText(text, text_length)) return Invalid(client, bad);
  if (const char* bad = BadBytes(wav, wav_length)) return Invalid(client, bad);
  return Guarded(client, [&] {
    ttscache::OpusParams p;
    if (int rc = ToParams(client, params, &p); rc != TTSCACHE_OK) return rc;
    if (int rc = EnsureConnected(client); rc != TTSCACHE_OK) return rc;
    return Deliver(
        client, client->client->PutEncode(engine, {text, text_length}, {wav, wav_length}, p), out);
  });
}

void ttscache_buffer_free(ttscache_buffer* buffer) {
  if (!buffer) return;
  delete static_cast<ttscache::AudioBuffer*>(buffer->owner_);
  *buffer = ttscache_buffer{nullptr, 0, nullptr};
}

}  // extern "C"
