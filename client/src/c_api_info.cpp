// The C API's questions to the daemon and its pipelined gets: HELLO as a
// ttscache_hello_info, STATS as a ttscache_stats the library allocates (one
// block owns the engine array and names, so ttscache_stats_free is one
// delete and fields can be appended later), and SendGet/ReceiveGet by id.
#include <cstring>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "c_api_internal.hpp"

using namespace ttscache::capi;  // NOLINT: the C entry points below are its callers

// ttscache_stats_free casts back from the first member: only valid for a
// standard-layout block.
static_assert(std::is_standard_layout_v<StatsBlock>);

void ttscache::capi::FillStats(const ttscache::Stats& r, StatsBlock* block) {
  ttscache_stats& s = block->pub;
  s.connections = r.connections;
  s.requests = r.requests;
  s.busy = r.busy;
  s.errors = r.errors;
  s.encodes = r.encodes;
  s.shared_encodes = r.shared_encodes;
  s.has_limits = r.has_limits ? 1 : 0;
  s.max_entries = r.max_entries;
  s.max_bytes = r.max_bytes;
  s.has_streams = r.has_streams ? 1 : 0;
  s.streams_open = r.streams_open;
  s.streams_opened = r.streams_opened;
  s.streams_stored = r.streams_stored;
  s.streams_failed = r.streams_failed;
  block->names.reserve(r.engines.size());
  block->engines.reserve(r.engines.size());
  for (const auto& e : r.engines) {
    block->names.push_back(e.name);
    block->engines.push_back(ttscache_engine_stats{block->names.back().c_str(), e.entries, e.bytes,
                                                   e.hits, e.misses, e.puts, e.evictions,
                                                   e.variant_hits, e.variant_misses});
  }
  s.engine_count = block->engines.size();
  s.engines = block->engines.data();
}

extern "C" {

int ttscache_hello(ttscache_client* client, ttscache_hello_info* out) {
  if (out) *out = ttscache_hello_info{};
  if (!client || !out) return Invalid(client, "NULL argument");
  return Guarded(client, [&] {
    if (int rc = EnsureConnected(client); rc != TTSCACHE_OK) return rc;
    auto h = client->client->Hello();
    if (!h) return Fail(client, h.error());
    out->protocol_version = h->version;
    out->max_frame_body = h->max_frame_body;
    out->max_text_bytes = h->max_text_bytes;
    out->max_inflight = h->max_inflight;
    out->max_arena_bytes = h->max_arena_bytes;
    return Ok(client);
  });
}

int ttscache_stats_get(ttscache_client* client, ttscache_stats** out) {
  if (out) *out = nullptr;
  if (!client || !out) return Invalid(client, "NULL argument");
  return Guarded(client, [&] {
    if (int rc = EnsureConnected(client); rc != TTSCACHE_OK) return rc;
    auto r = client->client->StatsWithStreams();
    if (!r) return Fail(client, r.error());
    auto block = std::make_unique<StatsBlock>();
    FillStats(*r, block.get());
    *out = &block.release()->pub;
    return Ok(client);
  });
}

void ttscache_stats_free(ttscache_stats* stats) {
  // pub is StatsBlock's first member: the same address.
  delete reinterpret_cast<StatsBlock*>(stats);
}

int ttscache_send_get(ttscache_client* client, const char* engine, const char* text,
                      size_t text_length, int format, const ttscache_opus_params* params,
                      uint64_t* request_id) {
  if (request_id) *request_id = 0;
  if (!client || !engine || !request_id) return Invalid(client, "NULL argument");
  if (const char* bad = BadText(text, text_length)) return Invalid(client, bad);
  if (format != TTSCACHE_FORMAT_WAV && format != TTSCACHE_FORMAT_OPUS) {
    return Invalid(client, "format must be TTSCACHE_FORMAT_WAV or TTSCACHE_FORMAT_OPUS");
  }
  return Guarded(client, [&] {
    ttscache::OpusParams p;
    if (int rc = ToParams(client, params, &p); rc != TTSCACHE_OK) return rc;
    if (int rc = EnsureConnected(client); rc != TTSCACHE_OK) return rc;
    auto id = client->client->SendGet(
        engine, {text, text_length},
        format == TTSCACHE_FORMAT_WAV ? ttscache::Format::kWav : ttscache::Format::kOpus, p);
    if (!id) return Fail(client, id.error());
    client->sent_gets.insert(*id);
    *request_id = *id;
    return Ok(client);
  });
}

int ttscache_receive_get(ttscache_client* client, uint64_t request_id, ttscache_buffer* out) {
  if (out) *out = ttscache_buffer{nullptr, 0, nullptr};
  if (!client || !out) return Invalid(client, "NULL argument");
  return Guarded(client, [&] {
    // An id not outstanding would wait for a reply that never comes.
    if (client->sent_gets.erase(request_id) == 0 || !client->client) {
      return Invalid(client, "no get with this id is outstanding on this handle");
    }
    return Deliver(client, client->client->ReceiveGet(request_id), out);
  });
}

}  // extern "C"
