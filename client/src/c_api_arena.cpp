// The C API's arena: attach (a sealed memfd shared with the daemon), its
// mapping, a best-fit allocator over it (ArenaAllocator, made on first use),
// and the two calls that take arena offsets. A BUFFER_TOO_SMALL from the
// daemon carries the size needed; the C++ Error keeps only the message, so
// the size is read back from it ("..., N needed").
#include <cctype>
#include <charconv>
#include <string_view>

#include "c_api_internal.hpp"

using namespace ttscache::capi;  // NOLINT: the C entry points below are its callers

namespace {

// The N of "... N needed" in the daemon's message, or 0.
uint64_t NeededFrom(std::string_view message) {
  const size_t at = message.rfind(" needed");
  if (at == std::string_view::npos) return 0;
  size_t begin = at;
  while (begin > 0 && std::isdigit(static_cast<unsigned char>(message[begin - 1]))) --begin;
  uint64_t needed = 0;
  std::from_chars(message.data() + begin, message.data() + at, needed);
  return needed;
}

// The arena if one is attached, else INVALID_ARGUMENT.
int RequireArena(ttscache_client* c) {
  if (!c->client || c->client->arena().empty()) {
    return Invalid(c, "no arena: call ttscache_arena_attach first");
  }
  return TTSCACHE_OK;
}

}  // namespace

extern "C" {

int ttscache_arena_attach(ttscache_client* client, size_t bytes) {
  if (!client) return Invalid(client, "NULL client");
  if (bytes == 0) return Invalid(client, "an arena of 0 bytes");
  return Guarded(client, [&] {
    if (int rc = EnsureConnected(client); rc != TTSCACHE_OK) return rc;
    ttscache::Status s = client->client->AttachArena(bytes);
    if (!s) return Fail(client, s.error());  // the old arena and its allocations stay
    // Its bookkeeping lived in the old mapping, now gone (closing it reads nothing).
    client->allocator.reset();
    return Ok(client);
  });
}

int ttscache_arena(ttscache_client* client, uint8_t** data, size_t* size) {
  if (data) *data = nullptr;
  if (size) *size = 0;
  if (!client || !data || !size) return Invalid(client, "NULL argument");
  return Guarded(client, [&] {
    if (int rc = RequireArena(client); rc != TTSCACHE_OK) return rc;
    std::span<uint8_t> arena = client->client->arena();
    *data = arena.data();
    *size = arena.size();
    return Ok(client);
  });
}

int ttscache_arena_alloc(ttscache_client* client, size_t bytes, uint8_t** data, uint64_t* offset) {
  if (data) *data = nullptr;
  if (offset) *offset = 0;
  if (!client) return Invalid(client, "NULL client");
  return Guarded(client, [&] {
    if (int rc = RequireArena(client); rc != TTSCACHE_OK) return rc;
    if (!client->allocator) {
      auto made = ttscache::ArenaAllocator::Create(client->client->arena());
      if (!made) return Fail(client, made.error());
      client->allocator.emplace(std::move(*made));
    }
    auto buffer = client->allocator->Allocate(bytes);
    if (!buffer) return Fail(client, buffer.error());
    if (data) *data = buffer->data();
    if (offset) *offset = client->allocator->OffsetOf(*buffer);
    return Ok(client);
  });
}

int ttscache_arena_free(ttscache_client* client, uint64_t offset) {
  if (!client) return Invalid(client, "NULL client");
  return Guarded(client, [&] {
    if (!client->allocator || !client->client || offset >= client->client->arena().size()) {
      return Invalid(client, "not an offset ttscache_arena_alloc returned");
    }
    client->allocator->Free(client->client->arena().subspan(offset, 0));
    return Ok(client);
  });
}

int ttscache_put_from_arena(ttscache_client* client, const char* engine, const char* text,
                            size_t text_length, uint64_t offset, uint64_t length) {
  if (!client || !engine) return Invalid(client, "NULL argument");
  if (const char* bad = BadText(text, text_length)) return Invalid(client, bad);
  return Guarded(client, [&] {
    if (int rc = RequireArena(client); rc != TTSCACHE_OK) return rc;
    ttscache::Status s = client->client->PutFromArena(engine, {text, text_length}, offset, length);
    return s ? Ok(client) : Fail(client, s.error());
  });
}

int ttscache_encode_in_arena(ttscache_client* client, uint64_t offset, uint64_t length,
                             uint64_t out_offset, uint64_t out_capacity,
                             const ttscache_opus_params* params, uint64_t* opus_size) {
  if (opus_size) *opus_size = 0;
  if (!client) return Invalid(client, "NULL client");
  const auto end = [](uint64_t at, uint64_t n) { return at + n < at ? UINT64_MAX : at + n; };
  if (length != 0 && out_capacity != 0 && offset < end(out_offset, out_capacity) &&
      out_offset < end(offset, length)) {
    return Invalid(client, "the output range overlaps the input range");
  }
  return Guarded(client, [&] {
    ttscache::OpusParams p;
    if (int rc = ToParams(client, params, &p); rc != TTSCACHE_OK) return rc;
    if (int rc = RequireArena(client); rc != TTSCACHE_OK) return rc;
    auto size = client->client->EncodeInArena(offset, length, out_offset, out_capacity, p);
    if (!size) {
      if (size.error().code == ttscache::Errc::kBufferTooSmall && opus_size) {
        *opus_size = NeededFrom(size.error().message);
      }
      return Fail(client, size.error());
    }
    if (opus_size) *opus_size = *size;
    return Ok(client);
  });
}

}  // extern "C"
