// ipc/messages: the coordination codecs (GET's claim block, the claimed
// audio reply, CLAIM_DROP, SLOT_ACQUIRE, SLOT_RELEASE, STATS flag 8)
// round-trip every field and refuse malformed bodies — every truncation, a
// trailing byte, a bad claim byte, reserved bytes that are not zero, counts
// and sizes past their bounds — instead of reading past the body
// (docs/protocol.md, "Coordinating synthesis", is normative).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>

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

// As above, but the prefixes in `whole` are valid bodies of their own (a
// STATS reply from a daemon that predates a flag ends before its block).
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

GetRequest ClaimingGet() {
  GetRequest g;
  g.engine = "piper/en_US-lessac-medium";
  g.text = "Hello there";
  g.format = AudioFormat::kOpus;
  g.params = OpusParams{24, VbrMode::kOn, OpusApplication::kVoip, 10, 20000};
  g.delivery = Delivery::kDescriptor;
  g.claim = true;
  g.wait_ms = 30000;
  return g;
}

// Where the claim block starts in an encoded GET (after known).
size_t ClaimOffset(const std::vector<uint8_t>& body) { return body.size() - 8; }

TEST(CoordinateMessages, GetWithAClaimRoundTripsWithKnownZeros) {
  const GetRequest g = ClaimingGet();
  std::vector<uint8_t> body = EncodeGetRequest(g);
  // known goes too (zeros: the client maps nothing), then the 8-byte block.
  const size_t claim = ClaimOffset(body);
  for (size_t i = claim - 16; i < claim; ++i) EXPECT_EQ(body[i], 0) << "known byte " << i;
  EXPECT_EQ(body[claim], 1);
  EXPECT_EQ(body[claim + 1], 0);
  EXPECT_EQ(body[claim + 2], 0);
  EXPECT_EQ(body[claim + 3], 0);
  Result<GetRequest> back = DecodeGetRequest(body);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back->engine, g.engine);
  EXPECT_EQ(back->text, g.text);
  EXPECT_EQ(back->format, AudioFormat::kOpus);
  EXPECT_EQ(back->params.bitrate_kbps, 24);
  EXPECT_EQ(back->delivery, Delivery::kDescriptor);
  EXPECT_FALSE(back->known.valid());
  EXPECT_TRUE(back->claim);
  EXPECT_EQ(back->wait_ms, 30000u);
}

TEST(CoordinateMessages, GetWithKnownAndClaimRoundTrips) {
  GetRequest g = ClaimingGet();
  g.known = FileId{0x1122334455667788ull, 42};
  g.wait_ms = 0xFFFFFFFFu;
  std::vector<uint8_t> body = EncodeGetRequest(g);
  Result<GetRequest> back = DecodeGetRequest(body);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back->known, g.known);
  EXPECT_TRUE(back->claim);
  EXPECT_EQ(back->wait_ms, 0xFFFFFFFFu);
}

TEST(CoordinateMessages, GetWithoutAClaimIsEncodedAsBefore) {
  GetRequest g = ClaimingGet();
  g.claim = false;
  g.wait_ms = 500;  // ignored without a claim
  std::vector<uint8_t> plain = EncodeGetRequest(g);
  g.wait_ms = 0;
  EXPECT_EQ(plain, EncodeGetRequest(g)) << "no claim block, no known";
  Result<GetRequest> back = DecodeGetRequest(plain);
  ASSERT_TRUE(back.ok());
  EXPECT_FALSE(back->claim);
  EXPECT_EQ(back->wait_ms, 0u);
  g.known = FileId{1, 2};
  std::vector<uint8_t> with_known = EncodeGetRequest(g);
  EXPECT_EQ(with_known.size(), plain.size() + 16) << "known only";
  back = DecodeGetRequest(with_known);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->known, g.known);
  EXPECT_FALSE(back->claim);
}

TEST(CoordinateMessages, GetClaimBlockWithClaimZeroIsAPlainGet) {
  std::vector<uint8_t> body = EncodeGetRequest(ClaimingGet());
  body[ClaimOffset(body)] = 0;  // claim 0: the rest is ignored
  Result<GetRequest> back = DecodeGetRequest(body);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_FALSE(back->claim);
  EXPECT_EQ(back->wait_ms, 0u);
}

TEST(CoordinateMessages, GetClaimBlockIsCheckedByteByByte) {
  const std::vector<uint8_t> good = EncodeGetRequest(ClaimingGet());
  const size_t claim = ClaimOffset(good);
  // Every cut fails but two: before known (a plain GET) and before the
  // claim block (a GET with known); a trailing byte fails.
  for (size_t n = 0; n < good.size(); ++n) {
    const bool valid = n == claim - 16 || n == claim;
    EXPECT_EQ(DecodeGetRequest(std::span<const uint8_t>(good.data(), n)).ok(), valid)
        << "prefix of " << n;
  }
  std::vector<uint8_t> longer = good;
  longer.push_back(0);
  EXPECT_FALSE(DecodeGetRequest(longer).ok()) << "a trailing byte";
  std::vector<uint8_t> bad = good;
  bad[claim] = 2;
  Result<GetRequest> r = DecodeGetRequest(bad);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error().message, HasSubstr("claim = 2, expected 0 or 1"));
  for (size_t reserved : {claim + 1, claim + 2, claim + 3}) {
    bad = good;
    bad[reserved] = 1;
    r = DecodeGetRequest(bad);
    ASSERT_FALSE(r.ok()) << "reserved byte " << reserved;
    EXPECT_THAT(r.error().message, HasSubstr("reserved"));
  }
  // Reserved bytes are checked even with claim 0.
  bad = good;
  bad[claim] = 0;
  bad[claim + 2] = 1;
  EXPECT_FALSE(DecodeGetRequest(bad).ok());
}

TEST(CoordinateMessages, ClaimedReplyRoundTrips) {
  std::vector<uint8_t> body = EncodeClaimedReply(30000);
  ASSERT_EQ(body.size(), 1u + 8u + 4u);
  Result<AudioReply> a = DecodeAudioReply(body);
  ASSERT_TRUE(a.ok()) << a.error().message;
  EXPECT_EQ(a->place, AudioPlace::kClaimed);
  EXPECT_EQ(a->size, 0u);
  EXPECT_EQ(a->lease_ms, 30000u);
  EXPECT_TRUE(a->bytes.empty());
  ExpectEveryTruncationAndTrailerRefused(body, DecodeAudioReply);
  // A size with place 3 is refused.
  body[1] = 1;
  Result<AudioReply> bad = DecodeAudioReply(body);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.error().message, HasSubstr("size"));
  // Place 4 is no place.
  body = EncodeClaimedReply(1);
  body[0] = 4;
  EXPECT_FALSE(DecodeAudioReply(body).ok());
  // EncodeAudioReply with kClaimed writes the same layout (lease 0).
  Result<AudioReply> via = DecodeAudioReply(EncodeAudioReply(AudioPlace::kClaimed, 0, {}));
  ASSERT_TRUE(via.ok());
  EXPECT_EQ(via->place, AudioPlace::kClaimed);
}

TEST(CoordinateMessages, OtherAudioRepliesStillDecode) {
  const std::vector<uint8_t> wav = {1, 2, 3};
  Result<AudioReply> inline_reply = DecodeAudioReply(EncodeAudioReply(AudioPlace::kInline, 3, wav));
  ASSERT_TRUE(inline_reply.ok());
  EXPECT_EQ(inline_reply->bytes.size(), 3u);
  EXPECT_EQ(inline_reply->lease_ms, 0u);
  Result<AudioReply> fd =
      DecodeAudioReply(EncodeAudioReply(AudioPlace::kArena, 54827, {}, FileId{7, 8}));
  ASSERT_TRUE(fd.ok());
  EXPECT_EQ(fd->file, (FileId{7, 8}));
}

TEST(CoordinateMessages, ClaimDropRoundTrips) {
  std::vector<uint8_t> body = EncodeClaimDropRequest({"xtts/anna", "Guten Tag"});
  Result<ClaimDropRequest> c = DecodeClaimDropRequest(body);
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->engine, "xtts/anna");
  EXPECT_EQ(c->text, "Guten Tag");
  ExpectEveryTruncationAndTrailerRefused(body, DecodeClaimDropRequest);
  const std::string long_engine(kMaxEngineField + 1, 'a');
  EXPECT_FALSE(DecodeClaimDropRequest(EncodeClaimDropRequest({long_engine, "x"})).ok());

  for (bool dropped : {false, true}) {
    body = EncodeClaimDropReply(dropped);
    Result<bool> r = DecodeClaimDropReply(body);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(*r, dropped);
    ExpectEveryTruncationAndTrailerRefused(body, DecodeClaimDropReply);
  }
  body = {2};
  Result<bool> bad = DecodeClaimDropReply(body);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.error().message, HasSubstr("dropped"));
}

TEST(CoordinateMessages, SlotAcquireRoundTrips) {
  std::vector<uint8_t> body = EncodeSlotAcquireRequest({"gpu", 60000});
  Result<SlotAcquireRequest> s = DecodeSlotAcquireRequest(body);
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(s->name, "gpu");
  EXPECT_EQ(s->wait_ms, 60000u);
  ExpectEveryTruncationAndTrailerRefused(body, DecodeSlotAcquireRequest);
  EXPECT_TRUE(DecodeSlotAcquireRequest(EncodeSlotAcquireRequest({std::string(64, 'a'), 0})).ok());
  EXPECT_FALSE(DecodeSlotAcquireRequest(EncodeSlotAcquireRequest({std::string(65, 'a'), 0})).ok());

  body = EncodeSlotAcquireReply({0x0102030405060708ull, 2, 1});
  Result<SlotAcquireReply> r = DecodeSlotAcquireReply(body);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->hold, 0x0102030405060708ull);
  EXPECT_EQ(r->size, 2u);
  EXPECT_EQ(r->held, 1u);
  ExpectEveryTruncationAndTrailerRefused(body, DecodeSlotAcquireReply);
  Result<SlotAcquireReply> zero = DecodeSlotAcquireReply(EncodeSlotAcquireReply({0, 2, 1}));
  ASSERT_FALSE(zero.ok());
  EXPECT_THAT(zero.error().message, HasSubstr("hold 0"));
}

TEST(CoordinateMessages, SlotReleaseRoundTrips) {
  std::vector<uint8_t> body = EncodeSlotReleaseRequest(77);
  Result<uint64_t> hold = DecodeSlotReleaseRequest(body);
  ASSERT_TRUE(hold.ok());
  EXPECT_EQ(*hold, 77u);
  ExpectEveryTruncationAndTrailerRefused(body, DecodeSlotReleaseRequest);
}

StatsReply CoordinationStats() {
  StatsReply s;
  s.engines = {{"piper", 1, 2, 3, 4, 5, 6, 7, 8}, {"xtts", 0, 0, 0, 0, 0, 0, 0, 0}};
  s.has_coordination = true;
  CoordinationStatsWire& c = s.coordination;
  c.claims = 11;
  c.claim_waits = 19;
  c.waits_served = 17;
  c.wait_timeouts = 2;
  c.lease_expiries = 3;
  c.takeovers = 4;
  c.claims_refused = 5;
  c.claims_open = 6;
  c.waiting = 7;
  c.slots = {{"gpu", 1, 1, 3, 100, 40, 2, 123456},
             {"piper", 0, 5, 0, 9, 0, 0, 0},
             {"xtts", 2, 0, 0, 0, 0, 0, 0}};
  return s;
}

void ExpectSameCoordination(const CoordinationStatsWire& a, const CoordinationStatsWire& b) {
  EXPECT_EQ(a.claims, b.claims);
  EXPECT_EQ(a.claim_waits, b.claim_waits);
  EXPECT_EQ(a.waits_served, b.waits_served);
  EXPECT_EQ(a.wait_timeouts, b.wait_timeouts);
  EXPECT_EQ(a.lease_expiries, b.lease_expiries);
  EXPECT_EQ(a.takeovers, b.takeovers);
  EXPECT_EQ(a.claims_refused, b.claims_refused);
  EXPECT_EQ(a.claims_open, b.claims_open);
  EXPECT_EQ(a.waiting, b.waiting);
  ASSERT_EQ(a.slots.size(), b.slots.size());
  for (size_t i = 0; i < a.slots.size(); ++i) {
    EXPECT_EQ(a.slots[i].name, b.slots[i].name);
    EXPECT_EQ(a.slots[i].size, b.slots[i].size);
    EXPECT_EQ(a.slots[i].held, b.slots[i].held);
    EXPECT_EQ(a.slots[i].waiting, b.slots[i].waiting);
    EXPECT_EQ(a.slots[i].acquired, b.slots[i].acquired);
    EXPECT_EQ(a.slots[i].waited, b.slots[i].waited);
    EXPECT_EQ(a.slots[i].timeouts, b.slots[i].timeouts);
    EXPECT_EQ(a.slots[i].wait_us, b.slots[i].wait_us);
  }
}

TEST(CoordinateMessages, StatsFlagEightIsAccepted) {
  EXPECT_EQ(DecodeStatsRequest(EncodeStatsRequest(kStatsCoordinate)).value(), kStatsCoordinate);
  EXPECT_EQ(DecodeStatsRequest(EncodeStatsRequest(15)).value(), 15);
  EXPECT_FALSE(DecodeStatsRequest(std::vector<uint8_t>{32}).ok());
  EXPECT_FALSE(DecodeStatsRequest(std::vector<uint8_t>{8 | 32}).ok());
}

TEST(CoordinateMessages, StatsCoordinationRoundTripsAlone) {
  const StatsReply s = CoordinationStats();
  std::vector<uint8_t> body = EncodeStatsReply(s);
  Result<StatsReply> r = DecodeStatsReply(body, kStatsCoordinate);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_FALSE(r->has_limits);
  EXPECT_FALSE(r->has_detail);
  ASSERT_TRUE(r->has_coordination);
  ExpectSameCoordination(r->coordination, s.coordination);
  // A daemon that predates flag 8 sends nothing for it: not an error.
  StatsReply old = s;
  old.has_coordination = false;
  ExpectTruncationsRefusedBut(body, {EncodeStatsReply(old).size()}, [](std::span<const uint8_t> b) {
    return DecodeStatsReply(b, kStatsCoordinate);
  });
  Result<StatsReply> from_old = DecodeStatsReply(EncodeStatsReply(old), kStatsCoordinate);
  ASSERT_TRUE(from_old.ok());
  EXPECT_FALSE(from_old->has_coordination);
  // Not asked: not read, so the block is bytes left over.
  EXPECT_FALSE(DecodeStatsReply(body, kStatsLimits).ok());
}

TEST(CoordinateMessages, StatsCoordinationComesAfterEveryOtherFlag) {
  StatsReply s = CoordinationStats();
  s.has_limits = s.has_streams = s.has_detail = true;
  s.max_entries = 500;
  s.streams_open = 3;
  s.detail.oldest_access_ns = {1, 2};
  s.detail.encode_count = 99;
  std::vector<uint8_t> body = EncodeStatsReply(s);
  Result<StatsReply> r = DecodeStatsReply(body, 15);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->max_entries, 500u);
  EXPECT_EQ(r->streams_open, 3u);
  EXPECT_EQ(r->detail.encode_count, 99u);
  ExpectSameCoordination(r->coordination, s.coordination);
  // The coordination block is the tail: 9 × u64, u32 count, the slots.
  StatsReply without = s;
  without.has_coordination = false;
  const std::vector<uint8_t> head = EncodeStatsReply(without);
  ASSERT_LT(head.size(), body.size());
  EXPECT_TRUE(std::equal(head.begin(), head.end(), body.begin()));
  // Cut at the end of a flag's block, it is a reply from an older daemon.
  std::vector<size_t> ends;
  StatsReply older = s;
  older.has_coordination = false;
  ends.push_back(EncodeStatsReply(older).size());
  older.has_detail = false;
  ends.push_back(EncodeStatsReply(older).size());
  older.has_streams = false;
  ends.push_back(EncodeStatsReply(older).size());
  older.has_limits = false;
  ends.push_back(EncodeStatsReply(older).size());
  ExpectTruncationsRefusedBut(body, ends,
                              [](std::span<const uint8_t> b) { return DecodeStatsReply(b, 15); });
}

// Offset of the coordination block's slot count in CoordinationStats()'s body.
size_t SlotCountOffset() {
  StatsReply s = CoordinationStats();
  s.has_coordination = false;
  return EncodeStatsReply(s).size() + 9 * 8;
}

TEST(CoordinateMessages, StatsCoordinationBoundsAreChecked) {
  const size_t count = SlotCountOffset();
  std::vector<uint8_t> body = EncodeStatsReply(CoordinationStats());
  ASSERT_EQ(body[count], 3);
  // More slots than any daemon lists.
  std::vector<uint8_t> bad = body;
  StoreLittleEndian(&bad[count], 4097, 4);
  Result<StatsReply> r = DecodeStatsReply(bad, kStatsCoordinate);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error().message, HasSubstr("4097 slots"));
  // A count larger than the slots sent.
  bad = body;
  StoreLittleEndian(&bad[count], 4, 4);
  EXPECT_FALSE(DecodeStatsReply(bad, kStatsCoordinate).ok());

  // A name over 64 bytes, an empty one.
  StatsReply s = CoordinationStats();
  s.coordination.slots[0].name = std::string(65, 'g');
  EXPECT_FALSE(DecodeStatsReply(EncodeStatsReply(s), kStatsCoordinate).ok());
  s.coordination.slots[0].name = std::string(64, 'g');
  EXPECT_TRUE(DecodeStatsReply(EncodeStatsReply(s), kStatsCoordinate).ok());
  s.coordination.slots[0].name.clear();
  EXPECT_FALSE(DecodeStatsReply(EncodeStatsReply(s), kStatsCoordinate).ok());

  // Sizes, holds and waits no daemon can have.
  struct Case {
    uint32_t size, held, waiting;
    bool ok;
  };
  for (Case c : {Case{1024, 0, 0, true}, Case{1025, 0, 0, false}, Case{0, 1u << 24, 0, true},
                 Case{0, (1u << 24) + 1, 0, false}, Case{1, 1, 1000000, true},
                 Case{1, 1, 1000001, false}, Case{2, 5, 0, true}}) {  // 5 > 2: after a shrink
    s = CoordinationStats();
    s.coordination.slots[1].size = c.size;
    s.coordination.slots[1].held = c.held;
    s.coordination.slots[1].waiting = c.waiting;
    Result<StatsReply> d = DecodeStatsReply(EncodeStatsReply(s), kStatsCoordinate);
    EXPECT_EQ(d.ok(), c.ok) << c.size << " " << c.held << " " << c.waiting;
    if (!d.ok()) {
      EXPECT_THAT(d.error().message, HasSubstr("slot piper"));
    }
  }
}

}  // namespace
}  // namespace ttscache::ipc
