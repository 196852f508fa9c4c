// The daemon's side of coordinating synthesis (daemon/coordinate_dispatch.cpp),
// driven with raw frames over the real socket of a real ttscached: a claim
// and its waiters, a put that wakes them (inline, by descriptor, as Opus),
// a drop and a disconnect that pass the claim on, waits that end on time,
// synthesis slots, and the hostile cases (too many parked on one
// connection, a hold that is not ours, names that are no slot, a garbled
// claim block, a waiter that leaves or shuts its sending side). The
// multi-process suite through libttscache is tests/e2e/coordinate_test.cpp.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "core/cachekey/cache_key.hpp"
#include "ipc/fd_passing.hpp"
#include "ipc/messages.hpp"
#include "tests/e2e/daemon_e2e_helpers.hpp"
#include "tests/e2e/daemon_process.hpp"
#include "tests/support/raw_peer.hpp"

namespace ttscache {
namespace {

using testing::DaemonProcess;
using ::testing::HasSubstr;
using testing::RawPeer;
using Clock = std::chrono::steady_clock;
using e2e::kError;

constexpr uint8_t kGetReply = ipc::ReplyOpcode(ipc::Opcode::kGet);

// A daemon with [coordinate] keys appended to its configuration.
struct CoordinatedDaemon {
  explicit CoordinatedDaemon(const std::string& coordinate_keys = "",
                             testing::Keys daemon_keys = {}, testing::Keys cache_keys = {})
      : d(std::move(daemon_keys), std::move(cache_keys)) {
    std::ofstream(d.config_path(), std::ios::app) << "[coordinate]\n" << coordinate_keys;
    started = d.Start();
  }
  DaemonProcess d;
  bool started = false;
};

std::vector<uint8_t> Frame(ipc::Opcode op, uint64_t id, const std::vector<uint8_t>& body) {
  return ipc::BuildFrame(static_cast<uint8_t>(op), id, body);
}

std::vector<uint8_t> ClaimGet(uint64_t id, const std::string& text, uint32_t wait_ms,
                              ipc::AudioFormat format = ipc::AudioFormat::kWav,
                              ipc::Delivery delivery = ipc::Delivery::kInline,
                              const std::string& engine = "piper") {
  ipc::GetRequest get{engine, text, format, {}, delivery, {}};
  get.claim = true;
  get.wait_ms = wait_ms;
  return Frame(ipc::Opcode::kGet, id, ipc::EncodeGetRequest(get));
}

std::vector<uint8_t> Put(uint64_t id, const std::string& text, const std::vector<uint8_t>& wav) {
  ipc::PutRequest put{"piper", text, {ipc::AudioPlace::kInline, wav, 0, 0}};
  return Frame(ipc::Opcode::kPut, id, ipc::EncodePutRequest(put));
}

std::vector<uint8_t> Acquire(uint64_t id, const std::string& name, uint32_t wait_ms) {
  return Frame(ipc::Opcode::kSlotAcquire, id, ipc::EncodeSlotAcquireRequest({name, wait_ms}));
}

std::vector<uint8_t> Release(uint64_t id, uint64_t hold) {
  return Frame(ipc::Opcode::kSlotRelease, id, ipc::EncodeSlotReleaseRequest(hold));
}

// Whether a byte arrives on `fd` within `ms` (without reading it).
bool Readable(int fd, int ms) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, ms) == 1;
}

struct Reply {
  uint8_t opcode = 0;
  uint64_t request = 0;
  std::vector<uint8_t> body;
};

Reply Next(RawPeer& peer) {
  auto [op, id, body] = peer.Read();
  return {op, id, std::move(body)};
}

// The lease of a claimed reply; fails the test when it is anything else.
uint32_t LeaseOf(const Reply& r) {
  EXPECT_EQ(r.opcode, kGetReply);
  Result<ipc::AudioReply> audio = ipc::DecodeAudioReply(r.body);
  EXPECT_TRUE(audio.ok());
  if (!audio) return 0;
  EXPECT_EQ(audio->place, ipc::AudioPlace::kClaimed);
  return audio->lease_ms;
}

ipc::ErrorCode CodeOf(const Reply& r) {
  EXPECT_EQ(r.opcode, kError);
  return r.opcode == kError ? e2e::ErrorOf(r.body).code : ipc::ErrorCode{};
}

ipc::CoordinationStatsWire Coordination(DaemonProcess& d) {
  RawPeer peer(d.socket_path());
  peer.Send(Frame(ipc::Opcode::kStats, 1, ipc::EncodeStatsRequest(ipc::kStatsCoordinate)));
  Reply r = Next(peer);
  Result<ipc::StatsReply> stats = ipc::DecodeStatsReply(r.body, ipc::kStatsCoordinate);
  EXPECT_TRUE(stats.ok() && stats->has_coordination);
  return stats ? stats->coordination : ipc::CoordinationStatsWire{};
}

// A holder claims `text`; returns the lease.
uint32_t Claim(RawPeer& holder, const std::string& text, uint64_t id = 1) {
  holder.Send(ClaimGet(id, text, 5000));
  return LeaseOf(Next(holder));
}

TEST(CoordinateDispatch, APutWakesTheWaiterWithTheBytesInline) {
  CoordinatedDaemon cd;
  ASSERT_TRUE(cd.started) << cd.d.log();
  RawPeer holder(cd.d.socket_path()), waiter(cd.d.socket_path());
  EXPECT_EQ(Claim(holder, "hello"), 30000u);
  waiter.Send(ClaimGet(7, "hello", 10000));
  EXPECT_FALSE(Readable(waiter.fd.get(), 300)) << "a waiter is answered only after the put";
  EXPECT_EQ(Coordination(cd.d).waiting, 1u);

  const std::vector<uint8_t> wav = e2e::Tone(1);
  holder.Send(Put(2, "hello", wav));
  Reply put = Next(holder);
  EXPECT_EQ(put.opcode, ipc::ReplyOpcode(ipc::Opcode::kPut));
  Reply served = Next(waiter);
  EXPECT_EQ(served.request, 7u);
  ASSERT_EQ(served.opcode, kGetReply);
  Result<ipc::AudioReply> audio = ipc::DecodeAudioReply(served.body);
  ASSERT_TRUE(audio.ok());
  EXPECT_EQ(audio->place, ipc::AudioPlace::kInline);
  EXPECT_EQ(std::vector<uint8_t>(audio->bytes.begin(), audio->bytes.end()), wav);

  const ipc::CoordinationStatsWire k = Coordination(cd.d);
  EXPECT_EQ(k.claims, 1u);
  EXPECT_EQ(k.claim_waits, 1u);
  EXPECT_EQ(k.waits_served, 1u);
  EXPECT_EQ(k.claims_open, 0u);
  EXPECT_EQ(k.waiting, 0u);
}

TEST(CoordinateDispatch, APutWakesTheWaiterByDescriptor) {
  CoordinatedDaemon cd;
  ASSERT_TRUE(cd.started) << cd.d.log();
  RawPeer holder(cd.d.socket_path()), waiter(cd.d.socket_path());
  Claim(holder, "by fd");
  waiter.Send(ClaimGet(3, "by fd", 10000, ipc::AudioFormat::kWav, ipc::Delivery::kDescriptor));
  const std::vector<uint8_t> wav = e2e::Tone(2);
  holder.Send(Put(2, "by fd", wav));
  ASSERT_EQ(Next(holder).opcode, ipc::ReplyOpcode(ipc::Opcode::kPut));

  // The descriptor comes with the frame's first byte.
  ASSERT_TRUE(Readable(waiter.fd.get(), 5000));
  uint8_t header[ipc::kHeaderSize];
  std::vector<UniqueFd> fds;
  Result<size_t> n = ipc::ReceiveWithFds(waiter.fd.get(), header, &fds, 1);
  ASSERT_TRUE(n.ok());
  ASSERT_EQ(*n, sizeof(header));
  const ipc::FrameHeader h = ipc::DecodeHeader(header, ipc::kMaxFrameBody).value();
  EXPECT_EQ(h.opcode, kGetReply);
  EXPECT_EQ(h.request_id, 3u);
  std::vector<uint8_t> body(h.body_length);
  ASSERT_TRUE(waiter.ReadAll(body.data(), body.size()));
  Result<ipc::AudioReply> audio = ipc::DecodeAudioReply(body);
  ASSERT_TRUE(audio.ok());
  EXPECT_EQ(audio->place, ipc::AudioPlace::kArena);
  ASSERT_EQ(fds.size(), 1u);
  std::vector<uint8_t> file(audio->size);
  ASSERT_EQ(::pread(fds[0].get(), file.data(), file.size(), 0), static_cast<ssize_t>(file.size()));
  EXPECT_EQ(file, wav);
}

TEST(CoordinateDispatch, AnOpusWaiterGetsTheVariant) {
  CoordinatedDaemon cd;
  ASSERT_TRUE(cd.started) << cd.d.log();
  RawPeer holder(cd.d.socket_path()), waiter(cd.d.socket_path());
  // The Opus GET's miss is the entry's: it waits for the WAV's claim.
  Claim(holder, "opus");
  waiter.Send(ClaimGet(4, "opus", 10000, ipc::AudioFormat::kOpus));
  EXPECT_FALSE(Readable(waiter.fd.get(), 200));
  holder.Send(Put(2, "opus", e2e::Tone(3)));
  ASSERT_EQ(Next(holder).opcode, ipc::ReplyOpcode(ipc::Opcode::kPut));
  Reply served = Next(waiter);
  ASSERT_EQ(served.opcode, kGetReply)
      << (served.opcode == kError ? e2e::ErrorOf(served.body).message : "");
  Result<ipc::AudioReply> audio = ipc::DecodeAudioReply(served.body);
  ASSERT_TRUE(audio.ok());
  ASSERT_GE(audio->bytes.size(), 4u);
  EXPECT_EQ(std::string(audio->bytes.begin(), audio->bytes.begin() + 4), "OggS");
}

// Any store of the entry fulfils its claim, whoever sends it: PUT_ENCODE,
// PUT_FILE (named by its key) and a stream's FINISH, from a third client.
// The claim is on the normalized text: "Hello  World" and "hello world"
// share one.
TEST(CoordinateDispatch, EveryKindOfPutFulfilsTheClaim) {
  CoordinatedDaemon cd;
  ASSERT_TRUE(cd.started) << cd.d.log();
  RawPeer holder(cd.d.socket_path()), waiter(cd.d.socket_path());
  Client other = cd.d.Connect();
  const std::vector<uint8_t> wav = e2e::Tone(6);
  auto expect_served = [&](uint64_t id) {
    Reply served = Next(waiter);
    EXPECT_EQ(served.request, id);
    ASSERT_EQ(served.opcode, kGetReply)
        << (served.opcode == kError ? e2e::ErrorOf(served.body).message : "");
    Result<ipc::AudioReply> audio = ipc::DecodeAudioReply(served.body);
    ASSERT_TRUE(audio.ok());
    EXPECT_NE(audio->place, ipc::AudioPlace::kClaimed);
    EXPECT_GT(audio->size, 0u);
  };

  Claim(holder, "Hello  World", 1);
  waiter.Send(ClaimGet(2, "hello world", 10000));
  EXPECT_FALSE(Readable(waiter.fd.get(), 200));
  ASSERT_TRUE(other.PutEncode("piper", "HELLO world", wav).ok());
  expect_served(2);

  Claim(holder, "by file", 3);
  waiter.Send(ClaimGet(4, "by file", 10000));
  EXPECT_FALSE(Readable(waiter.fd.get(), 200));
  const std::string path = cd.d.dir() + "/adopted.wav";
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(wav.data()), static_cast<long>(wav.size()));
  UniqueFd file(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  const CacheKey key = ComputeCacheKey("by file").value();
  ASSERT_TRUE(other.PutFileByKey("piper", key.digest, file.get(), 0).ok());
  expect_served(4);

  Claim(holder, "streamed", 5);
  waiter.Send(ClaimGet(6, "streamed", 10000));
  EXPECT_FALSE(Readable(waiter.fd.get(), 200));
  StreamFormat format;
  format.wav = true;
  EncodeStream stream =
      other.OpenEncodeStream(format, nullptr, DaemonDefaultOpus(), "piper", "streamed").value();
  ASSERT_TRUE(stream.Push(wav).ok());
  EXPECT_EQ(stream.Finish().value().cached, StreamResult::Cached::kStored);
  expect_served(6);

  const ipc::CoordinationStatsWire k = Coordination(cd.d);
  EXPECT_EQ(k.waits_served, 3u);
  EXPECT_EQ(k.claims_open, 0u);
}

// A PUT_ENCODE fulfils the claim once its WAV is stored, not after its
// encode: a claimer that leaves mid-encode (its job is dropped between
// slices) still serves the waiters what it stored, rather than handing the
// claim to one of them to synthesize again.
TEST(CoordinateDispatch, APutEncodeWhoseClientLeavesMidEncodeStillFulfils) {
  CoordinatedDaemon cd;
  ASSERT_TRUE(cd.started) << cd.d.log();
  auto holder = std::make_unique<RawPeer>(cd.d.socket_path());
  RawPeer waiter(cd.d.socket_path());
  Client other = cd.d.Connect();
  Claim(*holder, "long sentence", 1);
  waiter.Send(ClaimGet(2, "long sentence", 20000));
  EXPECT_FALSE(Readable(waiter.fd.get(), 200));
  // Minutes of audio: its encode takes many slices.
  const std::vector<uint8_t> wav = e2e::Tone(7, 240.0);
  ipc::PutEncodeRequest pe{"piper", "long sentence", {}, {ipc::AudioPlace::kInline, wav, 0, 0}, {}};
  pe.params.bitrate_kbps = 0;
  holder->Send(Frame(ipc::Opcode::kPutEncode, 3, ipc::EncodePutEncodeRequest(pe)));
  bool stored = false;
  for (int i = 0; i < 500 && !stored; ++i) {
    stored = other.Get("piper", "long sentence", Format::kWav).ok();
    if (!stored) ::usleep(10000);
  }
  ASSERT_TRUE(stored);
  ::usleep(50000);
  holder.reset();  // mid-encode
  Reply served = Next(waiter);
  ASSERT_EQ(served.opcode, kGetReply);
  Result<ipc::AudioReply> audio = ipc::DecodeAudioReply(served.body);
  ASSERT_TRUE(audio.ok());
  EXPECT_NE(audio->place, ipc::AudioPlace::kClaimed) << "the claim was passed on, not fulfilled";
  EXPECT_EQ(audio->size, wav.size());
}

TEST(CoordinateDispatch, ADropPassesTheClaimToTheWaiter) {
  CoordinatedDaemon cd;
  ASSERT_TRUE(cd.started) << cd.d.log();
  RawPeer holder(cd.d.socket_path()), waiter(cd.d.socket_path());
  Claim(holder, "dropped");
  waiter.Send(ClaimGet(5, "dropped", 10000));
  EXPECT_FALSE(Readable(waiter.fd.get(), 200));
  holder.Send(Frame(ipc::Opcode::kClaimDrop, 2, ipc::EncodeClaimDropRequest({"piper", "dropped"})));
  Reply dropped = Next(holder);
  ASSERT_EQ(dropped.opcode, ipc::ReplyOpcode(ipc::Opcode::kClaimDrop));
  EXPECT_EQ(ipc::DecodeClaimDropReply(dropped.body).value(), true);
  Reply taken = Next(waiter);
  EXPECT_EQ(taken.request, 5u);
  EXPECT_EQ(LeaseOf(taken), 30000u);
  // Not ours any more: dropped 0, not an error.
  holder.Send(Frame(ipc::Opcode::kClaimDrop, 3, ipc::EncodeClaimDropRequest({"piper", "dropped"})));
  EXPECT_EQ(ipc::DecodeClaimDropReply(Next(holder).body).value(), false);
  EXPECT_EQ(Coordination(cd.d).takeovers, 1u);
}

TEST(CoordinateDispatch, ADisconnectPassesTheClaimToTheWaiter) {
  CoordinatedDaemon cd;
  ASSERT_TRUE(cd.started) << cd.d.log();
  auto holder = std::make_unique<RawPeer>(cd.d.socket_path());
  RawPeer waiter(cd.d.socket_path());
  Claim(*holder, "left");
  waiter.Send(ClaimGet(6, "left", 10000));
  EXPECT_FALSE(Readable(waiter.fd.get(), 200));
  holder.reset();
  Reply taken = Next(waiter);
  EXPECT_EQ(taken.request, 6u);
  EXPECT_EQ(LeaseOf(taken), 30000u);
}

TEST(CoordinateDispatch, AWaitEndsOnTimeWithNotFound) {
  CoordinatedDaemon cd;
  ASSERT_TRUE(cd.started) << cd.d.log();
  RawPeer holder(cd.d.socket_path()), waiter(cd.d.socket_path());
  Claim(holder, "slow");
  const auto sent = Clock::now();
  waiter.Send(ClaimGet(8, "slow", 200));
  Reply r = Next(waiter);
  const auto waited =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - sent).count();
  EXPECT_EQ(CodeOf(r), ipc::ErrorCode::kNotFound);
  EXPECT_THAT(e2e::ErrorOf(r.body).message, HasSubstr("waited 200 ms"));
  EXPECT_GE(waited, 195);  // the daemon's clock rounds to the millisecond
  EXPECT_LE(waited, 400) << "the wait ends on its own timer, not the 1 s tick";
  // wait_ms 0 with the claim held elsewhere: a miss at once, with the reason.
  waiter.Send(ClaimGet(9, "slow", 0));
  Reply at_once = Next(waiter);
  EXPECT_EQ(CodeOf(at_once), ipc::ErrorCode::kNotFound);
  const ipc::CoordinationStatsWire k = Coordination(cd.d);
  EXPECT_EQ(k.wait_timeouts, 1u);
  EXPECT_EQ(k.claims_open, 1u);
}

TEST(CoordinateDispatch, ALeaseThatEndsPassesTheClaimOnAndIsLogged) {
  CoordinatedDaemon cd("lease_s = 1\n");
  ASSERT_TRUE(cd.started) << cd.d.log();
  RawPeer holder(cd.d.socket_path()), waiter(cd.d.socket_path());
  EXPECT_EQ(Claim(holder, "abandoned"), 1000u);
  const auto sent = Clock::now();
  waiter.Send(ClaimGet(2, "abandoned", 10000));
  EXPECT_EQ(LeaseOf(Next(waiter)), 1000u);
  const auto waited =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - sent).count();
  EXPECT_LE(waited, 1500);
  const ipc::CoordinationStatsWire k = Coordination(cd.d);
  EXPECT_EQ(k.lease_expiries, 1u);
  EXPECT_EQ(k.takeovers, 1u);
  EXPECT_THAT(cd.d.log(), HasSubstr("lease(s) ended without a put"));
}

TEST(CoordinateDispatch, SlotsAreAcquiredWaitedForReleasedAndFreedByADisconnect) {
  CoordinatedDaemon cd("slots = gpu:1\n");
  ASSERT_TRUE(cd.started) << cd.d.log();
  RawPeer a(cd.d.socket_path()), b(cd.d.socket_path());
  auto c = std::make_unique<RawPeer>(cd.d.socket_path());
  a.Send(Acquire(1, "gpu", 0));
  Reply granted = Next(a);
  ASSERT_EQ(granted.opcode, ipc::ReplyOpcode(ipc::Opcode::kSlotAcquire));
  const ipc::SlotAcquireReply first = ipc::DecodeSlotAcquireReply(granted.body).value();
  EXPECT_NE(first.hold, 0u);
  EXPECT_EQ(first.size, 1u);
  EXPECT_EQ(first.held, 1u);

  // Full: wait_ms 0 is busy at once; a wait ends on time, busy.
  b.Send(Acquire(2, "gpu", 0));
  EXPECT_EQ(CodeOf(Next(b)), ipc::ErrorCode::kBusy);
  const auto sent = Clock::now();
  b.Send(Acquire(3, "gpu", 200));
  Reply timed_out = Next(b);
  const auto waited =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - sent).count();
  EXPECT_EQ(CodeOf(timed_out), ipc::ErrorCode::kBusy);
  EXPECT_GE(waited, 195);
  EXPECT_LE(waited, 400);

  // Released: the waiter gets it.
  b.Send(Acquire(4, "gpu", 10000));
  EXPECT_FALSE(Readable(b.fd.get(), 200));
  a.Send(Release(5, first.hold));
  EXPECT_EQ(Next(a).opcode, ipc::ReplyOpcode(ipc::Opcode::kSlotRelease));
  Reply handed = Next(b);
  ASSERT_EQ(handed.opcode, ipc::ReplyOpcode(ipc::Opcode::kSlotAcquire));
  EXPECT_EQ(handed.request, 4u);

  // The holder leaves: the next waiter gets it.
  c->Send(Acquire(6, "gpu", 10000));
  EXPECT_FALSE(Readable(c->fd.get(), 200));
  b.fd.reset();
  Reply freed = Next(*c);
  ASSERT_EQ(freed.opcode, ipc::ReplyOpcode(ipc::Opcode::kSlotAcquire));
  EXPECT_EQ(freed.request, 6u);

  // Every engine and every configured slot is in STATS.
  const ipc::CoordinationStatsWire k = Coordination(cd.d);
  std::vector<std::string> names;
  for (const ipc::SlotStatsWire& s : k.slots) {
    names.push_back(s.name);
    if (s.name == "gpu") {
      EXPECT_EQ(s.size, 1u);
      EXPECT_EQ(s.held, 1u);
      EXPECT_EQ(s.acquired, 3u);
      EXPECT_EQ(s.timeouts, 1u);
    }
    if (s.name == "piper") {
      EXPECT_EQ(s.size, 2u);  // default_slots
    }
  }
  EXPECT_THAT(names, ::testing::Contains("gpu"));
  EXPECT_THAT(names, ::testing::Contains("piper"));
}

// SIGHUP applies new [coordinate] keys: a larger slot grants the waiting
// acquire at once; claims = false makes a claim block a plain miss.
TEST(CoordinateDispatch, AReloadAppliesNewSlotSizesAndClaimSettings) {
  CoordinatedDaemon cd("slots = gpu:1\n");
  ASSERT_TRUE(cd.started) << cd.d.log();
  RawPeer a(cd.d.socket_path()), b(cd.d.socket_path());
  a.Send(Acquire(1, "gpu", 0));
  ASSERT_EQ(Next(a).opcode, ipc::ReplyOpcode(ipc::Opcode::kSlotAcquire));
  b.Send(Acquire(2, "gpu", 10000));
  EXPECT_FALSE(Readable(b.fd.get(), 200));

  cd.d.WriteConfig();
  std::ofstream(cd.d.config_path(), std::ios::app)
      << "[coordinate]\nslots = gpu:2\nclaims = false\n";
  cd.d.Signal(SIGHUP);
  Reply granted = Next(b);
  ASSERT_EQ(granted.opcode, ipc::ReplyOpcode(ipc::Opcode::kSlotAcquire));
  const ipc::SlotAcquireReply reply = ipc::DecodeSlotAcquireReply(granted.body).value();
  EXPECT_EQ(reply.size, 2u);
  EXPECT_EQ(reply.held, 2u);

  a.Send(ClaimGet(3, "not claimed", 1000));
  Reply miss = Next(a);
  EXPECT_EQ(CodeOf(miss), ipc::ErrorCode::kNotFound);
  EXPECT_EQ(Coordination(cd.d).claims, 0u);
}

TEST(CoordinateDispatch, HostileSlotRequestsAreRefused) {
  CoordinatedDaemon cd("slots = gpu:1\n");
  ASSERT_TRUE(cd.started) << cd.d.log();
  RawPeer a(cd.d.socket_path()), b(cd.d.socket_path());
  a.Send(Acquire(1, "gpu", 0));
  const uint64_t hold = ipc::DecodeSlotAcquireReply(Next(a).body).value().hold;
  // Another connection's hold, and one that never was: bad request.
  b.Send(Release(2, hold));
  EXPECT_EQ(CodeOf(Next(b)), ipc::ErrorCode::kBadRequest);
  b.Send(Release(3, 999999));
  EXPECT_EQ(CodeOf(Next(b)), ipc::ErrorCode::kBadRequest);
  // A voice, an unknown name: unknown engine. An engine: its own slot.
  for (const char* name : {"piper/amy", "nope", "gpu/x", ""}) {
    b.Send(Acquire(4, name, 0));
    EXPECT_EQ(CodeOf(Next(b)), ipc::ErrorCode::kUnknownEngine) << name;
  }
  b.Send(Acquire(5, "piper", 0));
  EXPECT_EQ(Next(b).opcode, ipc::ReplyOpcode(ipc::Opcode::kSlotAcquire));
  // The hold is still a's: releasing it works once.
  a.Send(Release(6, hold));
  EXPECT_EQ(Next(a).opcode, ipc::ReplyOpcode(ipc::Opcode::kSlotRelease));
  a.Send(Release(7, hold));
  EXPECT_EQ(CodeOf(Next(a)), ipc::ErrorCode::kBadRequest);
}

TEST(CoordinateDispatch, AGarbledClaimBlockIsABadRequest) {
  CoordinatedDaemon cd;
  ASSERT_TRUE(cd.started) << cd.d.log();
  RawPeer peer(cd.d.socket_path());
  ipc::GetRequest get{"piper", "x", ipc::AudioFormat::kWav, {}, ipc::Delivery::kInline, {}};
  get.claim = true;
  get.wait_ms = 100;
  const std::vector<uint8_t> good = ipc::EncodeGetRequest(get);
  std::vector<std::vector<uint8_t>> bad;
  bad.push_back(good);
  bad.back()[good.size() - 8] = 7;  // claim 7
  bad.push_back(good);
  bad.back()[good.size() - 7] = 1;                                    // reserved byte
  bad.push_back(std::vector<uint8_t>(good.begin(), good.end() - 3));  // cut short
  bad.push_back(good);
  bad.back().push_back(0);  // a byte too many
  uint64_t id = 1;
  for (const std::vector<uint8_t>& body : bad) {
    peer.Send(Frame(ipc::Opcode::kGet, id, body));
    Reply r = Next(peer);
    EXPECT_EQ(r.request, id);
    EXPECT_EQ(CodeOf(r), ipc::ErrorCode::kBadRequest) << "body " << id;
    ++id;
  }
  EXPECT_EQ(Coordination(cd.d).claims, 0u);
}

TEST(CoordinateDispatch, TheParkedRequestsOfOneConnectionAreBounded) {
  // Enough claims on one connection for 1,025 entries to wait on.
  CoordinatedDaemon cd("max_claims_per_connection = 2048\n");
  ASSERT_TRUE(cd.started) << cd.d.log();
  RawPeer holder(cd.d.socket_path()), hostile(cd.d.socket_path());
  constexpr uint64_t kCount = ipc::kMaxParkedPerConnection + 1;
  std::vector<uint8_t> burst;
  for (uint64_t i = 1; i <= kCount; ++i) {
    std::vector<uint8_t> f = ClaimGet(i, "t" + std::to_string(i), 5000);
    burst.insert(burst.end(), f.begin(), f.end());
  }
  ASSERT_EQ(holder.Send(burst), static_cast<ssize_t>(burst.size()));
  for (uint64_t i = 1; i <= kCount; ++i) LeaseOf(Next(holder));
  burst.clear();
  for (uint64_t i = 1; i <= kCount; ++i) {
    std::vector<uint8_t> f = ClaimGet(i, "t" + std::to_string(i), 60000);
    burst.insert(burst.end(), f.begin(), f.end());
  }
  ASSERT_EQ(hostile.Send(burst), static_cast<ssize_t>(burst.size()));
  // Only the last is answered: refused, a plain miss.
  Reply refused = Next(hostile);
  EXPECT_EQ(refused.request, kCount);
  EXPECT_EQ(CodeOf(refused), ipc::ErrorCode::kNotFound);
  EXPECT_THAT(e2e::ErrorOf(refused.body).message, HasSubstr("1024"));
  // The parked do not count in flight: the connection is still served.
  hostile.Send(Frame(ipc::Opcode::kPing, 99999, {}));
  EXPECT_EQ(Next(hostile).request, 99999u);
  ipc::CoordinationStatsWire k = Coordination(cd.d);
  EXPECT_EQ(k.waiting, ipc::kMaxParkedPerConnection);
  EXPECT_EQ(k.claims_refused, 1u);
  // Waiting acquires count against the same bound.
  holder.Send(Acquire(100000, "piper", 0));
  holder.Send(Acquire(100001, "piper", 0));
  EXPECT_EQ(Next(holder).opcode, ipc::ReplyOpcode(ipc::Opcode::kSlotAcquire));
  EXPECT_EQ(Next(holder).opcode, ipc::ReplyOpcode(ipc::Opcode::kSlotAcquire));
  hostile.Send(Acquire(100002, "piper", 5000));
  Reply busy = Next(hostile);
  EXPECT_EQ(CodeOf(busy), ipc::ErrorCode::kBusy);
  EXPECT_THAT(e2e::ErrorOf(busy.body).message, HasSubstr("1024"));
  hostile.fd.reset();
  for (int i = 0; i < 100 && Coordination(cd.d).waiting != 0; ++i) ::usleep(10000);
  EXPECT_EQ(Coordination(cd.d).waiting, 0u);
}

// The memory of waiting GETs is bounded in total (64 MiB), whatever the
// per-key and per-connection bounds allow: each keeps its text, so one
// client with a few hundred connections parking 1,024 long texts each held
// gigabytes. Here 1 MiB texts: the 64th wait is refused, a plain miss.
TEST(CoordinateDispatch, TheMemoryOfWaitingGetsIsBounded) {
  CoordinatedDaemon cd("", {}, {{"max_text_bytes", "1048576"}});
  ASSERT_TRUE(cd.started) << cd.d.log();
  RawPeer holder(cd.d.socket_path()), hostile(cd.d.socket_path());
  const std::string text(1 << 20, 'a');
  Claim(holder, text);
  constexpr uint64_t kCount = 70;
  for (uint64_t i = 1; i <= kCount; ++i) {
    const std::vector<uint8_t> f = ClaimGet(i, text, 60000);
    ASSERT_EQ(hostile.Send(f), static_cast<ssize_t>(f.size()));
  }
  // The waits past the budget are refused; the others still wait.
  for (uint64_t i = 64; i <= kCount; ++i) {
    const Reply r = Next(hostile);
    EXPECT_EQ(r.request, i);
    EXPECT_EQ(CodeOf(r), ipc::ErrorCode::kNotFound);
    EXPECT_THAT(e2e::ErrorOf(r.body).message, HasSubstr("maximum of waiting GETs"));
  }
  const ipc::CoordinationStatsWire k = Coordination(cd.d);
  EXPECT_EQ(k.waiting, 63u);
  EXPECT_EQ(k.claims_refused, kCount - 63);
  // They are served as always when the put comes.
  holder.Send(Put(2, text, e2e::Tone(1)));
  EXPECT_EQ(Next(holder).opcode, ipc::ReplyOpcode(ipc::Opcode::kPut));
  for (uint64_t i = 0; i < 63; ++i) EXPECT_EQ(Next(hostile).opcode, kGetReply);
}

// A connection holding a slot unit or a claim is synthesizing, not idle:
// idle_timeout_s must not close it (that freed the unit under a running
// `ttscache slot run` command, which sends nothing while it runs). One that
// holds nothing is still closed.
TEST(CoordinateDispatch, IdleTimeoutSparesHoldersOfSlotsAndClaims) {
  CoordinatedDaemon cd("slots = gpu:1\n", {{"idle_timeout_s", "1"}});
  ASSERT_TRUE(cd.started) << cd.d.log();
  RawPeer slot_holder(cd.d.socket_path()), claim_holder(cd.d.socket_path()),
      idle(cd.d.socket_path());
  slot_holder.Send(Acquire(1, "gpu", 0));
  EXPECT_EQ(Next(slot_holder).opcode, ipc::ReplyOpcode(ipc::Opcode::kSlotAcquire));
  Claim(claim_holder, "long synthesis");
  ::usleep(3500 * 1000);  // past idle_timeout_s and the 1 s timer that applies it
  uint8_t byte = 0;
  EXPECT_EQ(::recv(idle.fd.get(), &byte, 1, MSG_DONTWAIT), 0)
      << "a connection holding nothing is closed when idle";
  RawPeer other(cd.d.socket_path());
  other.Send(Acquire(1, "gpu", 0));
  EXPECT_EQ(CodeOf(Next(other)), ipc::ErrorCode::kBusy) << "the unit is still held";
  other.Send(ClaimGet(2, "long synthesis", 0));
  const Reply refused = Next(other);
  EXPECT_EQ(CodeOf(refused), ipc::ErrorCode::kNotFound) << "the claim is still held";
  EXPECT_THAT(e2e::ErrorOf(refused.body).message, HasSubstr("held by another"));
  slot_holder.Send(Frame(ipc::Opcode::kPing, 3, {}));
  EXPECT_EQ(Next(slot_holder).request, 3u);
}

// claims = false by a reload answers the GETs waiting at once (a miss): they
// used to stay parked and be handed claims as leases ended.
TEST(CoordinateDispatch, TurningClaimsOffAnswersTheWaitersAtOnce) {
  CoordinatedDaemon cd("lease_s = 1\n");
  ASSERT_TRUE(cd.started) << cd.d.log();
  RawPeer holder(cd.d.socket_path()), waiter(cd.d.socket_path());
  Claim(holder, "turned off");
  waiter.Send(ClaimGet(7, "turned off", 30000));
  EXPECT_FALSE(Readable(waiter.fd.get(), 200));
  cd.d.WriteConfig();
  std::ofstream(cd.d.config_path(), std::ios::app) << "[coordinate]\nlease_s = 1\nclaims = false\n";
  const auto reloaded = Clock::now();
  cd.d.Signal(SIGHUP);
  const Reply told = Next(waiter);
  EXPECT_EQ(told.request, 7u);
  EXPECT_EQ(CodeOf(told), ipc::ErrorCode::kNotFound);
  EXPECT_THAT(e2e::ErrorOf(told.body).message, HasSubstr("claims were turned off"));
  EXPECT_LT(Clock::now() - reloaded, std::chrono::milliseconds(900)) << "before the lease ends";
  const ipc::CoordinationStatsWire k = Coordination(cd.d);
  EXPECT_EQ(k.waiting, 0u);
  EXPECT_EQ(k.claims_open, 0u);
  // The holder's put is still a put.
  holder.Send(Put(2, "turned off", e2e::Tone(1)));
  EXPECT_EQ(Next(holder).opcode, ipc::ReplyOpcode(ipc::Opcode::kPut));
}

// A reload that lowers max_wait_s cuts the waits already parked (claims and
// slots) to it: they kept the old bound (a minute by default) before.
TEST(CoordinateDispatch, ALowerMaxWaitByReloadCutsTheWaitsParked) {
  CoordinatedDaemon cd("slots = gpu:1\n");
  ASSERT_TRUE(cd.started) << cd.d.log();
  RawPeer holder(cd.d.socket_path()), waiter(cd.d.socket_path());
  Claim(holder, "cut");
  holder.Send(Acquire(2, "gpu", 0));
  ASSERT_EQ(Next(holder).opcode, ipc::ReplyOpcode(ipc::Opcode::kSlotAcquire));
  waiter.Send(ClaimGet(7, "cut", 60000));
  waiter.Send(Acquire(8, "gpu", 60000));
  EXPECT_FALSE(Readable(waiter.fd.get(), 200));
  cd.d.WriteConfig();
  std::ofstream(cd.d.config_path(), std::ios::app)
      << "[coordinate]\nslots = gpu:1\nmax_wait_s = 1\n";
  const auto reloaded = Clock::now();
  cd.d.Signal(SIGHUP);
  std::set<uint64_t> answered;
  for (int i = 0; i < 2; ++i) {
    const Reply r = Next(waiter);
    answered.insert(r.request);
    EXPECT_EQ(CodeOf(r), r.request == 7 ? ipc::ErrorCode::kNotFound : ipc::ErrorCode::kBusy);
  }
  EXPECT_EQ(answered, (std::set<uint64_t>{7, 8}));
  EXPECT_LT(Clock::now() - reloaded, std::chrono::seconds(3)) << "not the 60 s they asked for";
}

TEST(CoordinateDispatch, AWaiterThatLeftBeforeThePutIsSkipped) {
  CoordinatedDaemon cd;
  ASSERT_TRUE(cd.started) << cd.d.log();
  RawPeer holder(cd.d.socket_path()), stays(cd.d.socket_path());
  auto leaves = std::make_unique<RawPeer>(cd.d.socket_path());
  auto half_then_leaves = std::make_unique<RawPeer>(cd.d.socket_path());
  Claim(holder, "skip");
  leaves->Send(ClaimGet(1, "skip", 10000));
  half_then_leaves->Send(ClaimGet(1, "skip", 10000));
  stays.Send(ClaimGet(2, "skip", 10000));
  EXPECT_FALSE(Readable(stays.fd.get(), 200));
  ASSERT_EQ(Coordination(cd.d).waiting, 3u);
  leaves.reset();
  // Shut its sending side (the daemon stops reading it), then gone: the
  // hang-up closes it all the same.
  ::shutdown(half_then_leaves->fd.get(), SHUT_WR);
  ::usleep(50000);
  half_then_leaves.reset();
  for (int i = 0; i < 100 && Coordination(cd.d).waiting != 1; ++i) ::usleep(10000);
  EXPECT_EQ(Coordination(cd.d).waiting, 1u);
  holder.Send(Put(3, "skip", e2e::Tone(4)));
  EXPECT_EQ(Next(holder).opcode, ipc::ReplyOpcode(ipc::Opcode::kPut));
  EXPECT_EQ(Next(stays).opcode, kGetReply);
  EXPECT_EQ(Coordination(cd.d).waits_served, 1u);
}

TEST(CoordinateDispatch, AWaiterThatShutItsSendingSideIsStillAnsweredThenClosed) {
  CoordinatedDaemon cd("", {{"idle_timeout_s", "1"}});
  ASSERT_TRUE(cd.started) << cd.d.log();
  RawPeer holder(cd.d.socket_path()), served(cd.d.socket_path()), timed(cd.d.socket_path());
  Claim(holder, "half");
  served.Send(ClaimGet(1, "half", 10000));
  timed.Send(ClaimGet(2, "half", 300));
  ::shutdown(served.fd.get(), SHUT_WR);
  ::shutdown(timed.fd.get(), SHUT_WR);
  // Its wait ends first: answered, then closed.
  Reply missed = Next(timed);
  EXPECT_EQ(missed.request, 2u);
  EXPECT_EQ(CodeOf(missed), ipc::ErrorCode::kNotFound);
  EXPECT_EQ(Next(timed).opcode, 0) << "closed after its answer";
  // Parked longer than idle_timeout_s: not idle, still answered (the
  // holder keeps itself from being idle).
  for (int i = 0; i < 4; ++i) {
    ::usleep(500000);
    holder.Send(Frame(ipc::Opcode::kPing, 10 + i, {}));
    EXPECT_EQ(Next(holder).request, 10u + i);
  }
  ASSERT_FALSE(Readable(served.fd.get(), 0)) << "closed while it waited";
  holder.Send(Put(3, "half", e2e::Tone(5)));
  Reply hit = Next(served);
  EXPECT_EQ(hit.request, 1u);
  EXPECT_EQ(hit.opcode, kGetReply);
  EXPECT_EQ(Next(served).opcode, 0) << "closed after its answer";
  // A holder that shut its side and is granted a slot cannot release it:
  // closing frees it.
  RawPeer a(cd.d.socket_path()), b(cd.d.socket_path());
  a.Send(Acquire(1, "piper", 0));
  a.Send(Acquire(2, "piper", 0));
  EXPECT_EQ(Next(a).opcode, ipc::ReplyOpcode(ipc::Opcode::kSlotAcquire));
  EXPECT_EQ(Next(a).opcode, ipc::ReplyOpcode(ipc::Opcode::kSlotAcquire));
  b.Send(Acquire(3, "piper", 10000));
  ::shutdown(b.fd.get(), SHUT_WR);
  EXPECT_FALSE(Readable(b.fd.get(), 200));
  a.fd.reset();
  EXPECT_EQ(Next(b).opcode, ipc::ReplyOpcode(ipc::Opcode::kSlotAcquire));
  EXPECT_EQ(Next(b).opcode, 0);
  for (int i = 0; i < 100; ++i) {
    bool freed = true;
    for (const auto& s : Coordination(cd.d).slots) freed = freed && s.held == 0;
    if (freed) break;
    ::usleep(10000);
  }
  for (const auto& s : Coordination(cd.d).slots) EXPECT_EQ(s.held, 0u) << s.name;
}

}  // namespace
}  // namespace ttscache
