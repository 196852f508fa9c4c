// The C API's encode streams: a ttscache_stream owns an EncodeStream on its
// client's connection and calls the C page callback from the stream's page
// sink. The callback is C and cannot throw; anything the C++ side throws
// (allocating frames and strings) is caught at each entry point.
#include <optional>
#include <string>

#include "c_api_internal.hpp"

using namespace ttscache::capi;  // NOLINT: the C entry points below are its callers

struct ttscache_stream {
  ttscache_client* client = nullptr;  // borrowed; outlives the stream
  ttscache_pages_fn on_pages = nullptr;
  void* user = nullptr;
  std::optional<ttscache::EncodeStream> stream;
  std::string note;  // ttscache_stream_result::note points here
};

namespace {

int StreamStatus(ttscache_stream* s, const ttscache::Status& status) {
  if (!status) return Fail(s->client, status.error());
  return Ok(s->client);
}

int OpenWith(ttscache_client* client, const ttscache_stream_format* format,
             const ttscache::OpusParams& params, const char* engine, const char* text,
             size_t text_length, ttscache_pages_fn on_pages, void* user, ttscache_stream** out) {
  if (!client || !format || !out) return Invalid(client, "NULL argument");
  if (const char* bad = BadText(text, text_length)) return Invalid(client, bad);
  if (!engine != !text) return Invalid(client, "give both engine and text, or neither");
  ttscache::StreamFormat f;
  if (format->input == TTSCACHE_STREAM_WAV) {
    f.wav = true;
  } else if (format->input == TTSCACHE_STREAM_RAW) {
    if (format->sample_format < TTSCACHE_SAMPLE_U8 ||
        format->sample_format > TTSCACHE_SAMPLE_F64LE) {
      return Invalid(client, "sample_format must be one of TTSCACHE_SAMPLE_*");
    }
    if (format->channels < 1 || format->channels > 2) {
      return Invalid(client, "channels must be 1 or 2");
    }
    if (format->sample_rate <= 0) return Invalid(client, "sample_rate must be positive");
    f.sample_format = static_cast<ttscache::SampleFormat>(format->sample_format);
    f.channels = format->channels;
    f.sample_rate = format->sample_rate;
  } else {
    return Invalid(client, "input must be TTSCACHE_STREAM_RAW or TTSCACHE_STREAM_WAV");
  }
  if (int rc = EnsureConnected(client); rc != TTSCACHE_OK) return rc;
  auto s = std::make_unique<ttscache_stream>();
  s->client = client;
  s->on_pages = on_pages;
  s->user = user;
  auto sink = [raw = s.get()](std::span<const uint8_t> pages) {
    if (raw->on_pages) raw->on_pages(raw->user, pages.data(), pages.size());
  };
  auto opened = client->client->OpenEncodeStream(
      f, sink, params, engine ? std::string_view(engine) : std::string_view(),
      text ? std::string_view(text, text_length) : std::string_view());
  if (!opened) return Fail(client, opened.error());
  s->stream.emplace(std::move(*opened));
  *out = s.release();
  return Ok(client);
}

}  // namespace

extern "C" {

int ttscache_stream_open(ttscache_client* client, const ttscache_stream_format* format,
                         int bitrate_kbps, const char* engine, const char* text, size_t text_length,
                         ttscache_pages_fn on_pages, void* user, ttscache_stream** out) {
  if (out) *out = nullptr;
  return Guarded(client, [&] {
    return OpenWith(client, format, BitrateOnly(bitrate_kbps), engine, text, text_length, on_pages,
                    user, out);
  });
}

int ttscache_stream_open_ex(ttscache_client* client, const ttscache_stream_format* format,
                            const ttscache_opus_params* params, const char* engine,
                            const char* text, size_t text_length, ttscache_pages_fn on_pages,
                            void* user, ttscache_stream** out) {
  if (out) *out = nullptr;
  if (!client) return Invalid(client, "NULL client");
  return Guarded(client, [&] {
    ttscache::OpusParams p;
    if (int rc = ToParams(client, params, &p); rc != TTSCACHE_OK) return rc;
    return OpenWith(client, format, p, engine, text, text_length, on_pages, user, out);
  });
}

int ttscache_stream_push(ttscache_stream* stream, const void* data, size_t length) {
  if (!stream) return TTSCACHE_ERR_INVALID_ARGUMENT;
  if (const char* bad = BadBytes(data, length)) return Invalid(stream->client, bad);
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
      using Cached = ttscache::StreamResult::Cached;
      out->samples_48k = end->samples_48k;
      out->cached = end->cached == Cached::kStored      ? TTSCACHE_CACHED_STORED
                    : end->cached == Cached::kNotStored ? TTSCACHE_CACHED_NOT_STORED
                                                        : TTSCACHE_CACHED_NOT_ASKED;
      out->note = stream->note.c_str();
    }
    return Ok(stream->client);
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
