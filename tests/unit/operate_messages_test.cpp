// ipc/messages: the operate codecs (DELETE, PURGE, LIST, VERIFY, STATS
// detail) round-trip every field, and refuse malformed bodies — every
// truncation, a trailing byte, out-of-range codes and counts — with a clear
// error instead of reading past the body (docs/protocol.md is normative).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>

#include "ipc/messages.hpp"

namespace ttscache::ipc {
namespace {

using ::testing::HasSubstr;

// Every strict prefix of `body` fails, and so does `body` plus a byte.
template <class Decode>
void ExpectEveryTruncationAndTrailerRefused(std::vector<uint8_t> body, Decode decode) {
  for (size_t n = 0; n < body.size(); ++n) {
    EXPECT_FALSE(decode(std::span<const uint8_t>(body.data(), n)).ok()) << "prefix of " << n;
  }
  body.push_back(0);
  EXPECT_FALSE(decode(std::span<const uint8_t>(body)).ok()) << "a trailing byte";
}

TEST(OperateMessages, DeleteByTextAndByKeyRoundTrip) {
  DeleteRequest by_text{"piper/en_US-lessac-medium", DeleteBy::kText, "Hello there", {}};
  std::vector<uint8_t> body = EncodeDeleteRequest(by_text);
  Result<DeleteRequest> back = DecodeDeleteRequest(body);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back->engine, "piper/en_US-lessac-medium");
  EXPECT_EQ(back->by, DeleteBy::kText);
  EXPECT_EQ(back->text, "Hello there");
  ExpectEveryTruncationAndTrailerRefused(body, DecodeDeleteRequest);

  std::array<uint8_t, 32> key{};
  for (size_t i = 0; i < key.size(); ++i) key[i] = static_cast<uint8_t>(i * 7);
  DeleteRequest by_key{"xtts", DeleteBy::kKey, {}, key};
  body = EncodeDeleteRequest(by_key);
  back = DecodeDeleteRequest(body);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back->by, DeleteBy::kKey);
  ASSERT_EQ(back->key.size(), 32u);
  EXPECT_TRUE(std::equal(key.begin(), key.end(), back->key.begin()));
  ExpectEveryTruncationAndTrailerRefused(body, DecodeDeleteRequest);
  // `by` other than 0 or 1.
  body[4 + 4] = 2;
  EXPECT_THAT(DecodeDeleteRequest(body).error().message, HasSubstr("by"));

  DeleteReply reply{true, 123456789012ull, 3};
  body = EncodeDeleteReply(reply);
  Result<DeleteReply> r = DecodeDeleteReply(body);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->deleted);
  EXPECT_EQ(r->bytes, 123456789012ull);
  EXPECT_EQ(r->variants, 3u);
  ExpectEveryTruncationAndTrailerRefused(body, DecodeDeleteReply);
  body[0] = 2;
  EXPECT_FALSE(DecodeDeleteReply(body).ok()) << "deleted is 0 or 1";
}

TEST(OperateMessages, EngineFieldsOverTheLimitAreRefused) {
  const std::string long_engine(kMaxEngineField + 1, 'a');
  EXPECT_FALSE(DecodePurgeRequest(EncodePurgeRequest(long_engine)).ok());
  EXPECT_TRUE(DecodePurgeRequest(EncodePurgeRequest(std::string(kMaxEngineField, 'a'))).ok());
  DeleteRequest del{long_engine, DeleteBy::kText, "x", {}};
  EXPECT_FALSE(DecodeDeleteRequest(EncodeDeleteRequest(del)).ok());
  ListRequest list;
  list.engine = long_engine;
  EXPECT_FALSE(DecodeListRequest(EncodeListRequest(list)).ok());
  // A string length that runs past the body.
  const std::vector<uint8_t> lying = {0xFF, 0xFF, 0xFF, 0x7F, 'p'};
  EXPECT_FALSE(DecodePurgeRequest(lying).ok());
}

TEST(OperateMessages, PurgeRoundTrips) {
  std::vector<uint8_t> body = EncodePurgeRequest("piper/voice");
  Result<std::string_view> engine = DecodePurgeRequest(body);
  ASSERT_TRUE(engine.ok());
  EXPECT_EQ(*engine, "piper/voice");
  ExpectEveryTruncationAndTrailerRefused(body, DecodePurgeRequest);
  body = EncodePurgeReply({1000000, 1ull << 40});
  Result<PurgeReply> r = DecodePurgeReply(body);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->entries, 1000000u);
  EXPECT_EQ(r->bytes, 1ull << 40);
  ExpectEveryTruncationAndTrailerRefused(body, DecodePurgeReply);
}

TEST(OperateMessages, ListRoundTripsAndBoundsItsCounts) {
  ListRequest req;
  req.cursor = 1ull << 63;
  req.max_entries = 17;
  req.engine = "piper";
  req.min_idle_s = 1;
  req.max_idle_s = 2;
  req.min_bytes = 3;
  req.max_bytes = 4;
  std::vector<uint8_t> body = EncodeListRequest(req);
  Result<ListRequest> back = DecodeListRequest(body);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back->cursor, 1ull << 63);
  EXPECT_EQ(back->max_entries, 17u);
  EXPECT_EQ(back->engine, "piper");
  EXPECT_EQ(back->min_idle_s, 1u);
  EXPECT_EQ(back->max_idle_s, 2u);
  EXPECT_EQ(back->min_bytes, 3u);
  EXPECT_EQ(back->max_bytes, 4u);
  ExpectEveryTruncationAndTrailerRefused(body, DecodeListRequest);
  for (uint32_t bad : {0u, kMaxListEntries + 1, 5000u, UINT32_MAX}) {
    req.max_entries = bad;
    Result<ListRequest> refused = DecodeListRequest(EncodeListRequest(req));
    ASSERT_FALSE(refused.ok()) << bad;
    EXPECT_EQ(refused.error().code, Errc::kInvalidArgument);
    EXPECT_THAT(refused.error().message, HasSubstr("max_entries")) << bad;
  }
  req.max_entries = kMaxListEntries;
  EXPECT_TRUE(DecodeListRequest(EncodeListRequest(req)).ok());

  ListReply reply;
  reply.next_cursor = 99;
  ListEntry e;
  e.engine = "piper/v";
  e.key.fill(0xAB);
  e.wav_bytes = 1000;
  e.total_bytes = 1500;
  e.last_access_ns = 1764742399000000000ull;
  OpusParams p;
  p.bitrate_kbps = 24;
  p.vbr = VbrMode::kConstrained;
  e.variants = {{p, 300}, {OpusParams{}, 200}};
  reply.entries = {e, e};
  reply.entries[1].variants.clear();
  body = EncodeListReply(reply);
  Result<ListReply> r = DecodeListReply(body);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->next_cursor, 99u);
  ASSERT_EQ(r->entries.size(), 2u);
  EXPECT_EQ(r->entries[0].engine, "piper/v");
  EXPECT_EQ(r->entries[0].key, e.key);
  EXPECT_EQ(r->entries[0].wav_bytes, 1000u);
  EXPECT_EQ(r->entries[0].total_bytes, 1500u);
  EXPECT_EQ(r->entries[0].last_access_ns, e.last_access_ns);
  ASSERT_EQ(r->entries[0].variants.size(), 2u);
  EXPECT_EQ(r->entries[0].variants[0].params, p);
  EXPECT_EQ(r->entries[0].variants[0].bytes, 300u);
  EXPECT_TRUE(r->entries[1].variants.empty());
  ExpectEveryTruncationAndTrailerRefused(body, DecodeListReply);

  // A count over kMaxListEntries is refused before anything is read for it.
  std::vector<uint8_t> huge = EncodeListReply({0, {}});
  huge[8] = huge[9] = huge[10] = huge[11] = 0xFF;
  EXPECT_THAT(DecodeListReply(huge).error().message, HasSubstr("count"));
  // A variant count over 16.
  ListReply one;
  one.entries = {e};
  body = EncodeListReply(one);
  const size_t variant_count_at = 8 + 4 + 4 + e.engine.size() + 32 + 24;
  ASSERT_EQ(body[variant_count_at], 2);
  body[variant_count_at] = 17;
  EXPECT_THAT(DecodeListReply(body).error().message, HasSubstr("variant"));
}

TEST(OperateMessages, VerifyRoundTripsAndRefusesBadCodes) {
  std::vector<uint8_t> body = EncodeVerifyRequest({true});
  Result<VerifyRequest> req = DecodeVerifyRequest(body);
  ASSERT_TRUE(req.ok());
  EXPECT_TRUE(req->repair);
  EXPECT_FALSE(DecodeVerifyRequest(EncodeVerifyRequest({false}))->repair);
  ExpectEveryTruncationAndTrailerRefused(body, DecodeVerifyRequest);
  body[0] = 2;
  EXPECT_THAT(DecodeVerifyRequest(body).error().message, HasSubstr("repair"));

  VerifyReply reply;
  reply.verdict = VerifyVerdict::kRepaired;
  reply.entries_checked = 10;
  reply.files_checked = 12;
  reply.problems_total = 5000;
  reply.problems = {{"size-mismatch", "piper/ab.wav", "100 bytes, the index says 2000", true},
                    {"unknown-file", "piper/notes.txt", "not a cache file", false}};
  body = EncodeVerifyReply(reply);
  Result<VerifyReply> r = DecodeVerifyReply(body);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->verdict, VerifyVerdict::kRepaired);
  EXPECT_EQ(r->entries_checked, 10u);
  EXPECT_EQ(r->files_checked, 12u);
  EXPECT_EQ(r->problems_total, 5000u);
  ASSERT_EQ(r->problems.size(), 2u);
  EXPECT_EQ(r->problems[0].kind, "size-mismatch");
  EXPECT_EQ(r->problems[0].path, "piper/ab.wav");
  EXPECT_TRUE(r->problems[0].repaired);
  EXPECT_FALSE(r->problems[1].repaired);
  ExpectEveryTruncationAndTrailerRefused(body, DecodeVerifyReply);
  std::vector<uint8_t> bad = body;
  bad[0] = 3;
  EXPECT_THAT(DecodeVerifyReply(bad).error().message, HasSubstr("verdict"));
  bad = EncodeVerifyReply({});
  bad[25] = bad[26] = 0xFF;  // the problem count, past kMaxVerifyProblems
  EXPECT_THAT(DecodeVerifyReply(bad).error().message, HasSubstr("count"));
}

TEST(OperateMessages, StatsTierRoundTrips) {
  EXPECT_EQ(DecodeStatsRequest(EncodeStatsRequest(kStatsTier)).value(), kStatsTier);
  StatsReply s;
  s.has_tier = true;
  TierStatsWire& t = s.tier;
  t.enabled = true;
  t.state = TierState::kProbing;
  t.servers = 3;
  uint64_t n = 1;
  for (uint64_t* v :
       {&t.lookups, &t.coalesced, &t.hits, &t.variant_hits, &t.misses, &t.errors, &t.timeouts,
        &t.corrupt, &t.skipped, &t.writes, &t.write_errors, &t.dropped, &t.oversized,
        &t.queue_depth, &t.queue_capacity, &t.breaker_opens, &t.lookup_us}) {
    *v = n++;
  }
  const std::vector<uint8_t> body = EncodeStatsReply(s);
  Result<StatsReply> back = DecodeStatsReply(body, kStatsTier);
  ASSERT_TRUE(back.ok()) << back.error().message;
  ASSERT_TRUE(back->has_tier);
  EXPECT_TRUE(back->tier.enabled);
  EXPECT_EQ(back->tier.state, TierState::kProbing);
  EXPECT_EQ(back->tier.servers, 3u);
  EXPECT_EQ(back->tier.lookups, 1u);
  EXPECT_EQ(back->tier.lookup_us, 17u);
  // 8 bytes of header and 17 counters after the base reply.
  StatsReply base;
  EXPECT_EQ(body.size(), EncodeStatsReply(base).size() + 8 + 17 * 8);
  // A daemon that predates the flag sends nothing for it.
  EXPECT_FALSE(DecodeStatsReply(EncodeStatsReply(base), kStatsTier)->has_tier);
  std::vector<uint8_t> bad = body;
  bad[EncodeStatsReply(base).size() + 1] = 3;  // no such breaker state
  EXPECT_FALSE(DecodeStatsReply(bad, kStatsTier).ok());
}

TEST(OperateMessages, StatsDetailRoundTripsAndChecksItsCounts) {
  EXPECT_EQ(DecodeStatsRequest(EncodeStatsRequest(7)).value(), 7);
  EXPECT_FALSE(DecodeStatsRequest(std::vector<uint8_t>{32}).ok()) << "an unknown flag";
  StatsReply s;
  s.engines = {{"piper", 1, 2, 3, 4, 5, 6, 7, 8}, {"xtts", 0, 0, 0, 0, 0, 0, 0, 0}};
  s.has_limits = s.has_streams = s.has_detail = true;
  StatsDetail& d = s.detail;
  d.disk_free_bytes = 100;
  d.disk_total_bytes = 200;
  d.min_free_bytes = 10;
  d.max_age_s = 86400;
  d.expired = 1;
  d.evicted_for_space = 2;
  d.deleted = 3;
  d.purged = 4;
  d.oldest_access_ns = {1764742399000000000ull, 0};
  d.queue_depth = 5;
  d.queue_capacity = 64;
  d.connections_open = 6;
  d.forbidden = 7;
  for (size_t i = 0; i < kEncodeHistogramBuckets; ++i) d.encode_buckets[i] = i + 1;
  d.encode_count = 13;
  d.encode_sum_us = 99999;
  std::vector<uint8_t> body = EncodeStatsReply(s);
  Result<StatsReply> r = DecodeStatsReply(body, 7);
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_TRUE(r->has_detail);
  EXPECT_EQ(r->detail.disk_free_bytes, 100u);
  EXPECT_EQ(r->detail.max_age_s, 86400u);
  EXPECT_EQ(r->detail.purged, 4u);
  EXPECT_EQ(r->detail.oldest_access_ns, d.oldest_access_ns);
  EXPECT_EQ(r->detail.queue_capacity, 64u);
  EXPECT_EQ(r->detail.forbidden, 7u);
  EXPECT_EQ(r->detail.encode_buckets, d.encode_buckets);
  EXPECT_EQ(r->detail.encode_count, 13u);
  EXPECT_EQ(r->detail.encode_sum_us, 99999u);
  // Not asked: a client that did not send flag 4 does not read it (and then
  // the body is longer than it expects).
  EXPECT_FALSE(DecodeStatsReply(body, 3).ok());
  // Cut anywhere inside the detail: refused.
  const size_t without = [&] {
    StatsReply plain = s;
    plain.has_detail = false;
    return EncodeStatsReply(plain).size();
  }();
  for (size_t n = without + 1; n < body.size(); ++n) {
    EXPECT_FALSE(DecodeStatsReply({body.data(), n}, 7).ok()) << n;
  }
  // A daemon that predates the flag sends nothing for it: no detail, no error.
  Result<StatsReply> old = DecodeStatsReply({body.data(), without}, 7);
  ASSERT_TRUE(old.ok());
  EXPECT_FALSE(old->has_detail);
  // An engine count that is not the reply's, and a bucket count that is not 12.
  StatsReply wrong = s;
  wrong.detail.oldest_access_ns.push_back(1);
  EXPECT_THAT(DecodeStatsReply(EncodeStatsReply(wrong), 7).error().message,
              HasSubstr("engine count"));
  std::vector<uint8_t> buckets = body;
  const size_t bucket_count_at = body.size() - 8 * (kEncodeHistogramBuckets + 2) - 4;
  ASSERT_EQ(buckets[bucket_count_at], kEncodeHistogramBuckets);
  buckets[bucket_count_at] = 11;
  EXPECT_THAT(DecodeStatsReply(buckets, 7).error().message, HasSubstr("buckets"));
}

}  // namespace
}  // namespace ttscache::ipc
