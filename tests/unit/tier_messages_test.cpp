// ipc/messages: STATS flag 16, the fleet tier's block (docs/protocol.md,
// "STATS reply", is normative). It round-trips every field, comes after
// every other flag's block, is absent from a daemon that predates it, and is
// refused — every truncation, a trailing byte, an unknown state, a reserved
// u16 not zero, figures from a tier that is not enabled, a queue deeper than
// its size — with an error naming the field, instead of being believed.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>

#include "ipc/messages.hpp"

namespace ttscache::ipc {
namespace {

using ::testing::HasSubstr;

// Every strict prefix of `body` fails except those in `whole` (a reply from
// a daemon that predates a flag ends before its block), and a trailing byte
// fails.
template <class Decode>
void ExpectTruncationsRefusedBut(std::vector<uint8_t> body, std::vector<size_t> whole,
                                 Decode decode) {
  for (size_t n = 0; n < body.size(); ++n) {
    const bool valid = std::find(whole.begin(), whole.end(), n) != whole.end();
    EXPECT_EQ(decode(std::span<const uint8_t>(body.data(), n)).ok(), valid) << "prefix of " << n;
  }
  body.push_back(0);
  EXPECT_FALSE(decode(std::span<const uint8_t>(body)).ok()) << "a trailing byte";
}

uint64_t LoadLittleEndian(const uint8_t* at, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; ++i) v |= uint64_t{at[i]} << (8 * i);
  return v;
}

// Every field distinct, so a swapped pair in the codec shows.
TierStatsWire BusyTier() {
  TierStatsWire t;
  t.enabled = true;
  t.state = TierState::kProbing;
  t.servers = 3;
  uint64_t v = 101;
  for (uint64_t* f :
       {&t.lookups, &t.coalesced, &t.hits, &t.variant_hits, &t.misses, &t.errors, &t.timeouts,
        &t.corrupt, &t.skipped, &t.writes, &t.write_errors, &t.dropped, &t.oversized,
        &t.queue_depth, &t.queue_capacity, &t.breaker_opens, &t.lookup_us}) {
    *f = v++;
  }
  t.lookup_us = 0xFEDCBA9876543210ull;  // all 8 bytes used
  return t;
}

StatsReply TierStats() {
  StatsReply s;
  s.engines = {{"piper", 1, 2, 3, 4, 5, 6, 7, 8}};
  s.has_tier = true;
  s.tier = BusyTier();
  return s;
}

// Where the tier block starts in TierStats()'s body.
size_t TierOffset() {
  StatsReply s = TierStats();
  s.has_tier = false;
  return EncodeStatsReply(s).size();
}

TEST(TierMessages, StatsFlagSixteenIsAccepted) {
  EXPECT_EQ(DecodeStatsRequest(EncodeStatsRequest(kStatsTier)).value(), kStatsTier);
  EXPECT_EQ(DecodeStatsRequest(EncodeStatsRequest(31)).value(), 31);
  EXPECT_FALSE(DecodeStatsRequest(std::vector<uint8_t>{16 | 32}).ok());
  EXPECT_FALSE(DecodeStatsRequest(std::vector<uint8_t>{128}).ok());
}

TEST(TierMessages, TierBlockIsLaidOutAsDocumented) {
  const std::vector<uint8_t> body = EncodeStatsReply(TierStats());
  const size_t at = TierOffset();
  ASSERT_EQ(body.size(), at + 8 + 17 * 8) << "u8, u8, u16, u32, 17 x u64";
  EXPECT_EQ(body[at], 1) << "enabled";
  EXPECT_EQ(body[at + 1], 2) << "state: probing";
  EXPECT_EQ(body[at + 2], 0);
  EXPECT_EQ(body[at + 3], 0);
  EXPECT_EQ(LoadLittleEndian(&body[at + 4], 4), 3u) << "servers";
  const char* names[] = {"lookups",   "coalesced",   "hits",           "variant_hits",
                         "misses",    "errors",      "timeouts",       "corrupt",
                         "skipped",   "writes",      "write_errors",   "dropped",
                         "oversized", "queue_depth", "queue_capacity", "breaker_opens"};
  for (size_t i = 0; i < 16; ++i) {
    EXPECT_EQ(LoadLittleEndian(&body[at + 8 + 8 * i], 8), 101 + i) << names[i];
  }
  EXPECT_EQ(LoadLittleEndian(&body[at + 8 + 8 * 16], 8), 0xFEDCBA9876543210ull) << "lookup_us";
}

TEST(TierMessages, StatsTierRoundTripsAlone) {
  const StatsReply s = TierStats();
  const std::vector<uint8_t> body = EncodeStatsReply(s);
  Result<StatsReply> r = DecodeStatsReply(body, kStatsTier);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_FALSE(r->has_limits);
  EXPECT_FALSE(r->has_coordination);
  ASSERT_TRUE(r->has_tier);
  EXPECT_EQ(r->tier, s.tier);
  // A daemon that predates flag 16 sends nothing for it: not an error.
  ExpectTruncationsRefusedBut(body, {TierOffset()}, [](std::span<const uint8_t> b) {
    return DecodeStatsReply(b, kStatsTier);
  });
  StatsReply old = s;
  old.has_tier = false;
  Result<StatsReply> from_old = DecodeStatsReply(EncodeStatsReply(old), kStatsTier);
  ASSERT_TRUE(from_old.ok());
  EXPECT_FALSE(from_old->has_tier);
  // Not asked: not read, so the block is bytes left over.
  EXPECT_FALSE(DecodeStatsReply(body, kStatsCoordinate).ok());
}

TEST(TierMessages, EveryStateRoundTrips) {
  for (TierState state : {TierState::kUp, TierState::kDown, TierState::kProbing}) {
    StatsReply s = TierStats();
    s.tier.state = state;
    Result<StatsReply> r = DecodeStatsReply(EncodeStatsReply(s), kStatsTier);
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->tier.state, state);
  }
}

TEST(TierMessages, ATierNotConfiguredIsAllZeros) {
  StatsReply s = TierStats();
  s.tier = TierStatsWire{};
  const std::vector<uint8_t> body = EncodeStatsReply(s);
  ASSERT_EQ(body.size(), TierOffset() + 8 + 17 * 8);
  EXPECT_TRUE(std::all_of(body.begin() + static_cast<ptrdiff_t>(TierOffset()), body.end(),
                          [](uint8_t b) { return b == 0; }));
  Result<StatsReply> r = DecodeStatsReply(body, kStatsTier);
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_TRUE(r->has_tier);
  EXPECT_FALSE(r->tier.enabled);
  EXPECT_EQ(r->tier, TierStatsWire{});
}

TEST(TierMessages, StatsTierComesAfterEveryOtherFlag) {
  StatsReply s = TierStats();
  s.engines.push_back({"xtts", 0, 0, 0, 0, 0, 0, 0, 0});
  s.has_limits = s.has_streams = s.has_detail = s.has_coordination = true;
  s.max_entries = 500;
  s.streams_open = 3;
  s.detail.oldest_access_ns = {1, 2};
  s.detail.encode_count = 99;
  s.coordination.claims = 12;
  s.coordination.slots = {{"gpu", 1, 1, 0, 5, 0, 0, 0}};
  const std::vector<uint8_t> body = EncodeStatsReply(s);
  Result<StatsReply> r = DecodeStatsReply(body, 31);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->max_entries, 500u);
  EXPECT_EQ(r->streams_open, 3u);
  EXPECT_EQ(r->detail.encode_count, 99u);
  EXPECT_EQ(r->coordination.claims, 12u);
  ASSERT_EQ(r->coordination.slots.size(), 1u);
  ASSERT_TRUE(r->has_tier);
  EXPECT_EQ(r->tier, s.tier);
  // The tier block is the tail.
  StatsReply without = s;
  without.has_tier = false;
  const std::vector<uint8_t> head = EncodeStatsReply(without);
  ASSERT_EQ(head.size() + 8 + 17 * 8, body.size());
  EXPECT_TRUE(std::equal(head.begin(), head.end(), body.begin()));
  // Cut at the end of a flag's block, it is a reply from an older daemon.
  std::vector<size_t> ends;
  StatsReply older = s;
  for (bool* flag : {&older.has_tier, &older.has_coordination, &older.has_detail,
                     &older.has_streams, &older.has_limits}) {
    *flag = false;
    ends.push_back(EncodeStatsReply(older).size());
  }
  ExpectTruncationsRefusedBut(body, ends,
                              [](std::span<const uint8_t> b) { return DecodeStatsReply(b, 31); });
  // Asked for the tier but not coordination: the coordination block is not
  // read, so the tier decoder meets its bytes and the reply is refused.
  EXPECT_FALSE(DecodeStatsReply(body, (15 & ~kStatsCoordinate) | kStatsTier).ok());
}

TEST(TierMessages, WhatNoDaemonSendsIsRefused) {
  const std::vector<uint8_t> good = EncodeStatsReply(TierStats());
  const size_t at = TierOffset();
  auto refused = [](const std::vector<uint8_t>& body, const char* why) {
    Result<StatsReply> r = DecodeStatsReply(body, kStatsTier);
    EXPECT_FALSE(r.ok()) << why;
    if (!r.ok()) {
      EXPECT_THAT(r.error().message, HasSubstr("tier")) << why;
      EXPECT_THAT(r.error().message, HasSubstr(why));
    }
  };
  std::vector<uint8_t> bad = good;
  bad[at] = 2;
  refused(bad, "enabled = 2");
  bad = good;
  bad[at + 1] = 3;
  refused(bad, "state = 3");
  bad[at + 1] = 7;
  refused(bad, "state = 7");
  for (size_t reserved : {at + 2, at + 3}) {
    bad = good;
    bad[reserved] = 1;
    refused(bad, "reserved");
  }
  // Not enabled: every field must be 0 — each one alone is caught.
  StatsReply s = TierStats();
  s.tier = TierStatsWire{};
  const std::vector<uint8_t> off = EncodeStatsReply(s);
  for (size_t byte = at + 1; byte < off.size(); ++byte) {
    if (byte == at + 2 || byte == at + 3) continue;  // reserved: its own error
    bad = off;
    bad[byte] = 1;
    refused(bad, "not enabled");
  }
  // The write-behind queue deeper than its size.
  s = TierStats();
  s.tier.queue_depth = 11;
  s.tier.queue_capacity = 10;
  refused(EncodeStatsReply(s), "queue_depth 11 over its queue_capacity 10");
  s.tier.queue_depth = 10;
  EXPECT_TRUE(DecodeStatsReply(EncodeStatsReply(s), kStatsTier).ok()) << "full, not over";
  // Hits and misses beyond lookups are not refused: variant hits come from
  // the same lookups, and a lookup under way is neither yet.
  s.tier.lookups = 1;
  s.tier.hits = s.tier.variant_hits = s.tier.misses = 5;
  EXPECT_TRUE(DecodeStatsReply(EncodeStatsReply(s), kStatsTier).ok());
}

}  // namespace
}  // namespace ttscache::ipc
