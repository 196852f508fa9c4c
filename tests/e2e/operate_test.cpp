// End-to-end tests of operating the cache over the wire (issue #17): DELETE
// and PURGE (and who may), LIST paging with filters, VERIFY of a file
// damaged behind the daemon's back, STATS detail, and the maintenance timer
// — a real ttscached, raw frames (libttscache's own calls are tested with the
// CLI), and hostile clients: another uid, cursors out of range, a purge
// racing puts and gets.
#include <fcntl.h>
#include <grp.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <thread>

#include "core/cachekey/cache_key.hpp"
#include "tests/e2e/daemon_e2e_helpers.hpp"
#include "tests/e2e/daemon_process.hpp"
#include "tests/support/raw_peer.hpp"

namespace ttscache {
namespace {

namespace fs = std::filesystem;
using e2e::ErrorOf;
using e2e::kError;
using e2e::Tone;
using testing::DaemonProcess;
using ::testing::HasSubstr;
using testing::Keys;
using testing::RawPeer;

constexpr uint8_t kReplyBit = ipc::kReplyBit;

// One request and its reply over a raw connection, for the operate opcodes
// libttscache does not send.
class Wire {
 public:
  explicit Wire(const std::string& socket) : peer_(socket) {
    timeval tv{60, 0};  // a purge of thousands of entries may take a while
    setsockopt(peer_.fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  }
  bool connected() const { return peer_.connected; }
  // (reply opcode, body); opcode 0 when the connection ended or timed out.
  std::pair<uint8_t, std::vector<uint8_t>> Call(ipc::Opcode op, const std::vector<uint8_t>& body) {
    const uint64_t id = next_++;
    peer_.Send(ipc::BuildFrame(static_cast<uint8_t>(op), id, body));
    auto [reply_op, reply_id, reply] = peer_.Read();
    if (reply_op != 0 && reply_id != id) return {0xFF, {}};
    return {reply_op, reply};
  }
  Result<ipc::DeleteReply> DeleteText(std::string_view engine, std::string_view text) {
    ipc::DeleteRequest r{engine, ipc::DeleteBy::kText, text, {}};
    return Expect(ipc::Opcode::kDelete, ipc::EncodeDeleteRequest(r), ipc::DecodeDeleteReply);
  }
  Result<ipc::DeleteReply> DeleteKey(std::string_view engine, const CacheKey& key) {
    ipc::DeleteRequest r{engine, ipc::DeleteBy::kKey, {}, key.digest};
    return Expect(ipc::Opcode::kDelete, ipc::EncodeDeleteRequest(r), ipc::DecodeDeleteReply);
  }
  Result<ipc::PurgeReply> Purge(std::string_view engine) {
    return Expect(ipc::Opcode::kPurge, ipc::EncodePurgeRequest(engine), ipc::DecodePurgeReply);
  }
  Result<ipc::ListReply> List(const ipc::ListRequest& r) {
    return Expect(ipc::Opcode::kList, ipc::EncodeListRequest(r), ipc::DecodeListReply);
  }
  Result<ipc::VerifyReply> Verify(bool repair) {
    return Expect(ipc::Opcode::kVerify, ipc::EncodeVerifyRequest({repair}), ipc::DecodeVerifyReply);
  }
  Result<ipc::StatsReply> StatsDetail() {
    const uint8_t flags = ipc::kStatsLimits | ipc::kStatsStreams | ipc::kStatsDetail;
    return Expect(ipc::Opcode::kStats, ipc::EncodeStatsRequest(flags),
                  [](std::span<const uint8_t> b) { return ipc::DecodeStatsReply(b, 7); });
  }
  bool Ping() {
    return Call(ipc::Opcode::kPing, {}).first ==
           (static_cast<uint8_t>(ipc::Opcode::kPing) | kReplyBit);
  }

 private:
  // The decoded reply, or the daemon's ERROR as an Error (its wire code in
  // sys_errno, so tests can check it), or kUnavailable.
  template <class Decode>
  auto Expect(ipc::Opcode op, const std::vector<uint8_t>& body, Decode decode)
      -> decltype(decode(std::span<const uint8_t>())) {
    auto [reply_op, reply] = Call(op, body);
    if (reply_op == kError) {
      ipc::ErrorReply e = ErrorOf(reply);
      return Error{Errc::kInternal, e.message, static_cast<int>(e.code)};
    }
    if (reply_op != (static_cast<uint8_t>(op) | kReplyBit)) {
      return MakeError(Errc::kUnavailable, "reply opcode " + std::to_string(reply_op));
    }
    return decode(reply);
  }

  RawPeer peer_;
  uint64_t next_ = 1;
};

int WireCode(const Error& e) { return e.sys_errno; }
constexpr int kForbidden = static_cast<int>(ipc::ErrorCode::kForbidden);
constexpr int kBadRequest = static_cast<int>(ipc::ErrorCode::kBadRequest);

CacheKey KeyOf(std::string_view text) { return ComputeCacheKey(text).value(); }

// Runs `body` in a child process as uid/gid 65534 (nobody) with no
// supplementary groups; returns its exit status (0: every check passed,
// else the step that failed). REQUIRES: root.
int RunAsNobody(const std::function<int()>& body) {
  pid_t child = fork();
  if (child == 0) {
    if (setgroups(0, nullptr) != 0 || setresgid(65534, 65534, 65534) != 0 ||
        setresuid(65534, 65534, 65534) != 0) {
      _exit(100);
    }
    _exit(body());
  }
  int status = 0;
  waitpid(child, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 200 + WTERMSIG(status);
}

// A daemon another uid can reach: its socket 0666 in a directory others may
// search.
void LetOthersConnect(DaemonProcess& d) {
  d.daemon_keys()["socket_mode"] = "0666";
  d.WriteConfig();
  fs::permissions(d.dir(), fs::perms(0755));
}

bool WaitForLog(DaemonProcess& d, const std::string& line) {
  for (int i = 0; i < 200; ++i) {
    if (d.log().find(line) != std::string::npos) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  return false;
}

// The cache's files named after `key` under dir/engine (the WAV and its variants).
std::vector<std::string> FilesOf(const std::string& engine_dir, const CacheKey& key) {
  std::vector<std::string> found;
  if (!fs::exists(engine_dir)) return found;
  for (const auto& f : fs::directory_iterator(engine_dir)) {
    if (f.path().filename().string().rfind(key.hex(), 0) == 0) found.push_back(f.path());
  }
  return found;
}

TEST(Operate, DeleteByTextAndByKeyOverTheWire) {
  DaemonProcess d;
  ASSERT_TRUE(d.Start()) << d.log();
  Client client = d.Connect();
  const std::vector<uint8_t> a = Tone(1), b = Tone(2);
  ASSERT_TRUE(client.Put("piper", "first entry", a).ok());
  ASSERT_TRUE(client.Put("piper", "second entry", b).ok());
  // A variant of the first, and the first's WAV held by descriptor (mapped).
  ASSERT_TRUE(client.Get("piper", "first entry", Format::kOpus).ok());
  Result<AudioBuffer> held = client.Get("piper", "first entry", Format::kWav);
  ASSERT_TRUE(held.ok());
  const std::string piper = d.cache_dir() + "/piper";
  ASSERT_EQ(FilesOf(piper, KeyOf("first entry")).size(), 2u) << "the WAV and its variant";

  Wire wire(d.socket_path());
  // By text: normalized like GET (case and spaces do not matter).
  Result<ipc::DeleteReply> gone = wire.DeleteText("piper", "  FIRST   entry ");
  ASSERT_TRUE(gone.ok()) << gone.error().message;
  EXPECT_TRUE(gone->deleted);
  EXPECT_EQ(gone->variants, 1u);
  EXPECT_GT(gone->bytes, a.size()) << "the WAV and the variant's bytes";
  Result<AudioBuffer> miss = client.Get("piper", "first entry", Format::kWav);
  ASSERT_FALSE(miss.ok());
  EXPECT_EQ(miss.error().code, Errc::kNotFound);
  EXPECT_FALSE(client.Get("piper", "first entry", Format::kOpus).ok()) << "its variant went too";
  EXPECT_TRUE(FilesOf(piper, KeyOf("first entry")).empty());
  // The client that held the file still reads every byte of it.
  EXPECT_EQ(e2e::ToVector(*held), a);
  // Again: not cached, not an error.
  Result<ipc::DeleteReply> again = wire.DeleteText("piper", "first entry");
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->deleted);
  EXPECT_EQ(again->bytes, 0u);

  // By key: the file name's SHA-256, as `ttscache delete --key` sends it.
  Result<ipc::DeleteReply> by_key = wire.DeleteKey("piper", KeyOf("second entry"));
  ASSERT_TRUE(by_key.ok()) << by_key.error().message;
  EXPECT_TRUE(by_key->deleted);
  EXPECT_EQ(by_key->bytes, b.size());
  EXPECT_EQ(by_key->variants, 0u);
  EXPECT_FALSE(client.Get("piper", "second entry", Format::kWav).ok());

  // An engine not served: unknown engine, and the connection goes on.
  Result<ipc::DeleteReply> unknown = wire.DeleteText("nosuch", "x");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(WireCode(unknown.error()), static_cast<int>(ipc::ErrorCode::kUnknownEngine));
  EXPECT_TRUE(wire.Ping());
  // A hostile engine field cannot forge a log line.
  EXPECT_FALSE(wire.DeleteText("nosuch\nttscached: forged", "x").ok());
  EXPECT_THAT(d.log(), ::testing::Not(HasSubstr("\nttscached: forged")));
  // Each deletion is logged with what, the outcome and the peer.
  EXPECT_THAT(d.log(), HasSubstr("delete piper " + KeyOf("first entry").hex()));
  EXPECT_THAT(d.log(), HasSubstr("uid 0 pid "));
  // The counters saw two deletions.
  Result<ipc::StatsReply> stats = wire.StatsDetail();
  ASSERT_TRUE(stats.ok()) << stats.error().message;
  EXPECT_EQ(stats->detail.deleted, 2u);
}

TEST(Operate, PurgeAnEngineOrOneVoice) {
  DaemonProcess d;
  ASSERT_TRUE(d.Start()) << d.log();
  Client client = d.Connect();
  for (int i = 0; i < 20; ++i) {
    const std::string text = "line " + std::to_string(i);
    ASSERT_TRUE(client.Put("piper", text, Tone(i, 0.05)).ok());
    ASSERT_TRUE(client.Put("piper/voice-a", text, Tone(i + 100, 0.05)).ok());
    ASSERT_TRUE(client.Put("piper/voice-b", text, Tone(i + 200, 0.05)).ok());
    ASSERT_TRUE(client.Put("xtts", text, Tone(i + 300, 0.05)).ok());
  }
  Wire wire(d.socket_path());
  Result<ipc::PurgeReply> voice = wire.Purge("piper/voice-a");
  ASSERT_TRUE(voice.ok()) << voice.error().message;
  EXPECT_EQ(voice->entries, 20u);
  EXPECT_GT(voice->bytes, 0u);
  EXPECT_FALSE(client.Get("piper/voice-a", "line 3", Format::kWav).ok());
  EXPECT_TRUE(client.Get("piper/voice-b", "line 3", Format::kWav).ok()) << "another voice stays";
  EXPECT_TRUE(client.Get("piper", "line 3", Format::kWav).ok()) << "the engine's own entries stay";

  // The engine: its own entries and every voice; another engine stays.
  Result<ipc::PurgeReply> engine = wire.Purge("piper");
  ASSERT_TRUE(engine.ok()) << engine.error().message;
  EXPECT_EQ(engine->entries, 40u);
  EXPECT_FALSE(client.Get("piper", "line 3", Format::kWav).ok());
  EXPECT_FALSE(client.Get("piper/voice-b", "line 3", Format::kWav).ok());
  EXPECT_TRUE(client.Get("xtts", "line 3", Format::kWav).ok());
  EXPECT_THAT(d.log(), HasSubstr("purge piper: 40 entries"));

  Result<ipc::PurgeReply> none = wire.Purge("");
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(WireCode(none.error()), kBadRequest);
  Result<ipc::StatsReply> stats = wire.StatsDetail();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->detail.purged, 60u);
}

// The refusal a client that is not an admin gets, and what it may still do.
TEST(Operate, NonAdminIsRefusedAndKeepsTheConnection) {
  if (getuid() != 0) GTEST_SKIP() << "needs root to connect as another user";
  DaemonProcess d;
  LetOthersConnect(d);
  ASSERT_TRUE(d.Start()) << d.log();
  ASSERT_TRUE(d.Connect().Put("piper", "keep me", Tone(7)).ok());
  const std::string socket = d.socket_path();
  const int status = RunAsNobody([&] {
    Wire wire(socket);
    if (!wire.connected()) return 1;
    auto forbidden = [](const auto& r) {
      return !r.ok() && WireCode(r.error()) == kForbidden &&
             r.error().message.find("uid 65534") != std::string::npos &&
             r.error().message.find("admin_uids") != std::string::npos;
    };
    if (!forbidden(wire.DeleteText("piper", "keep me"))) return 2;
    if (!forbidden(wire.DeleteKey("piper", KeyOf("keep me")))) return 3;
    if (!forbidden(wire.Purge("piper"))) return 4;
    if (!forbidden(wire.Verify(/*repair=*/true))) return 5;
    // Still connected, and what reads the cache is allowed.
    if (!wire.Ping()) return 6;
    Result<ipc::VerifyReply> verify = wire.Verify(/*repair=*/false);
    if (!verify.ok()) return 7;
    ipc::ListRequest list;
    if (!wire.List(list).ok()) return 8;
    Result<Client> c = Client::Connect({socket, 5000});
    if (!c || !c->Get("piper", "keep me", Format::kWav, DaemonDefaultOpus(), false).ok()) return 9;
    return 0;
  });
  EXPECT_EQ(status, 0) << "step that failed (see the test)\n" << d.log();
  EXPECT_TRUE(d.Connect().Get("piper", "keep me", Format::kWav).ok()) << "the entry is still there";
  Wire wire(socket);
  Result<ipc::StatsReply> stats = wire.StatsDetail();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->detail.forbidden, 4u);
  EXPECT_THAT(d.log(), HasSubstr("refused DELETE from uid 65534 pid "));
}

TEST(Operate, AdminByGroup) {
  if (getuid() != 0) GTEST_SKIP() << "needs root to connect as another user";
  DaemonProcess d(Keys{{"admin_gids", "65534"}});
  LetOthersConnect(d);
  ASSERT_TRUE(d.Start()) << d.log();
  ASSERT_TRUE(d.Connect().Put("piper", "drop me", Tone(8)).ok());
  const std::string socket = d.socket_path();
  EXPECT_EQ(RunAsNobody([&] {
              Wire wire(socket);
              Result<ipc::DeleteReply> r = wire.DeleteText("piper", "drop me");
              return r.ok() && r->deleted ? 0 : 1;
            }),
            0)
      << d.log();
  EXPECT_FALSE(d.Connect().Get("piper", "drop me", Format::kWav).ok());
  EXPECT_THAT(d.log(), HasSubstr("(uid 65534 pid "));
}

TEST(Operate, ReloadThatAddsTheUidMakesItAnAdmin) {
  if (getuid() != 0) GTEST_SKIP() << "needs root to connect as another user";
  DaemonProcess d;
  LetOthersConnect(d);
  ASSERT_TRUE(d.Start()) << d.log();
  ASSERT_TRUE(d.Connect().Put("piper", "drop me", Tone(9)).ok());
  const std::string socket = d.socket_path();
  auto delete_as_nobody = [&] {
    return RunAsNobody([&] {
      Wire wire(socket);
      Result<ipc::DeleteReply> r = wire.DeleteText("piper", "drop me");
      if (!r.ok()) return WireCode(r.error()) == kForbidden ? 10 : 11;
      return r->deleted ? 0 : 12;
    });
  };
  EXPECT_EQ(delete_as_nobody(), 10) << "refused before the reload";
  d.daemon_keys()["admin_uids"] = "root, 65534";
  d.WriteConfig();
  d.Signal(SIGHUP);
  ASSERT_TRUE(WaitForLog(d, "reload: ")) << d.log();
  EXPECT_EQ(delete_as_nobody(), 0) << d.log();
}

// PURGE on a worker while several clients put and get the engine: a get
// meets a whole entry (that key's own bytes) or a miss, and whatever was
// put after the purge replied stays.
TEST(Operate, PurgeRacingPutsAndGets) {
  DaemonProcess d({}, Keys{{"max_entries", "20000"}});
  ASSERT_TRUE(d.Start()) << d.log();
  constexpr int kThreads = 4, kKeysPerThread = 150;
  auto text_of = [](int t, int i) { return "race " + std::to_string(t) + "/" + std::to_string(i); };
  std::map<std::string, std::vector<uint8_t>> content;
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < kKeysPerThread; ++i) content[text_of(t, i)] = Tone(t * 1000 + i, 0.02);
  }
  {
    Client c = d.Connect();
    for (auto& [text, wav] : content) ASSERT_TRUE(c.Put("piper", text, wav).ok());
  }
  std::atomic<bool> purge_replied{false}, stop{false};
  std::atomic<int> wrong{0}, failures{0};
  std::vector<std::set<std::string>> put_after(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      Client c = d.Connect();
      uint32_t seed = static_cast<uint32_t>(t) * 7919u + 1;
      for (int round = 0; !stop; ++round) {
        const int i = round % kKeysPerThread;
        const std::string text = text_of(t, i);
        const bool after = purge_replied;  // read before the put is sent
        if (!c.Put("piper", text, content.at(text)).ok()) {
          failures++;
        } else if (after) {
          put_after[static_cast<size_t>(t)].insert(text);
        }
        seed = seed * 1103515245u + 12345u;
        const std::string other = text_of(t, static_cast<int>(seed % kKeysPerThread));
        Result<AudioBuffer> got = c.Get("piper", other, Format::kWav, DaemonDefaultOpus(),
                                        /*descriptor=*/(round & 1) != 0);
        if (got.ok()) {
          if (e2e::ToVector(*got) != content.at(other)) wrong++;
        } else if (got.error().code != Errc::kNotFound) {
          failures++;
        }
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  Wire wire(d.socket_path());
  Result<ipc::PurgeReply> purged = wire.Purge("piper");
  purge_replied = true;
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  stop = true;
  for (std::thread& t : threads) t.join();
  ASSERT_TRUE(purged.ok()) << purged.error().message;
  EXPECT_GT(purged->entries, 0u);
  EXPECT_EQ(wrong, 0) << "a GET returned bytes that are not its key's";
  EXPECT_EQ(failures, 0);
  Client c = d.Connect();
  size_t checked = 0;
  for (int t = 0; t < kThreads; ++t) {
    for (const std::string& text : put_after[static_cast<size_t>(t)]) {
      Result<AudioBuffer> got = c.Get("piper", text, Format::kWav);
      ASSERT_TRUE(got.ok()) << text << " was put after the purge replied, and is gone";
      EXPECT_EQ(e2e::ToVector(*got), content.at(text));
      checked++;
    }
  }
  EXPECT_GT(checked, 0u) << "no put came after the purge: the test proved nothing";
}

struct Listed {
  std::string engine;
  uint64_t total_bytes, last_access_ns;
};

// Pages through LIST with `filter` (as the CLI does), checking each key
// comes once; returns the entries by key hex.
std::map<std::string, Listed> ListAll(Wire& wire, ipc::ListRequest filter, uint32_t page_size) {
  std::map<std::string, Listed> seen;
  filter.max_entries = page_size;
  filter.cursor = 0;
  for (int pages = 0; pages < 100000; ++pages) {
    Result<ipc::ListReply> page = wire.List(filter);
    EXPECT_TRUE(page.ok()) << page.error().message;
    if (!page.ok()) break;
    EXPECT_LE(page->entries.size(), page_size);
    for (const ipc::ListEntry& e : page->entries) {
      CacheKey key{e.key};
      EXPECT_TRUE(seen.emplace(e.engine + "/" + key.hex(),
                               Listed{e.engine, e.total_bytes, e.last_access_ns})
                      .second)
          << "listed twice: " << e.engine << " " << key.hex();
    }
    if (page->next_cursor == 0) break;
    filter.cursor = page->next_cursor;
  }
  return seen;
}

TEST(Operate, ListPagesThroughFiveThousandEntriesWithFilters) {
  DaemonProcess d({}, Keys{{"max_entries", "10000"}});
  ASSERT_TRUE(d.Start()) << d.log();
  // 4,000 piper entries of three sizes put now, 1,000 xtts entries adopted
  // as last used three days ago (PUT_FILE keeps an old cache's LRU order).
  const std::vector<uint8_t> sizes[3] = {Tone(1, 0.01), Tone(2, 0.02), Tone(3, 0.04)};
  const std::string old_wav = d.dir() + "/old.wav";
  std::ofstream(old_wav, std::ios::binary)
      .write(reinterpret_cast<const char*>(sizes[0].data()), static_cast<long>(sizes[0].size()));
  UniqueFd old_fd(open(old_wav.c_str(), O_RDONLY | O_CLOEXEC));
  const uint64_t now_ns =
      static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count());
  const uint64_t three_days_ago = now_ns - 3ull * 86400 * 1000000000;
  {
    Client c = d.Connect();
    for (int i = 0; i < 4000; ++i) {
      ASSERT_TRUE(c.Put("piper", "entry " + std::to_string(i), sizes[i % 3]).ok()) << i;
    }
    for (int i = 0; i < 1000; ++i) {
      CacheKey key = KeyOf("old " + std::to_string(i));
      ASSERT_TRUE(c.PutFileByKey("xtts", key.digest, old_fd.get(), three_days_ago).ok()) << i;
    }
  }
  Wire wire(d.socket_path());
  ipc::ListRequest all;
  std::map<std::string, Listed> everything = ListAll(wire, all, 1000);
  EXPECT_EQ(everything.size(), 5000u);
  EXPECT_EQ(ListAll(wire, all, 1).size(), 5000u) << "pages of one";
  EXPECT_EQ(ListAll(wire, all, 1024).size(), 5000u);

  ipc::ListRequest xtts;
  xtts.engine = "xtts";
  std::map<std::string, Listed> old = ListAll(wire, xtts, 333);
  EXPECT_EQ(old.size(), 1000u);
  for (auto& [key, e] : old) {
    EXPECT_EQ(e.engine, "xtts");
    EXPECT_EQ(e.total_bytes, sizes[0].size());
    EXPECT_EQ(e.last_access_ns / 1000000000, three_days_ago / 1000000000);
  }
  // Sizes: the middle size only (bounds inclusive).
  ipc::ListRequest middle;
  middle.min_bytes = sizes[1].size();
  middle.max_bytes = sizes[1].size();
  EXPECT_EQ(ListAll(wire, middle, 500).size(), 1333u);
  ipc::ListRequest small;
  small.max_bytes = sizes[0].size();
  EXPECT_EQ(ListAll(wire, small, 1000).size(), 1334u + 1000u);
  // Idle: over a day is the adopted ones; at most an hour is the rest.
  ipc::ListRequest idle;
  idle.min_idle_s = 86400;
  EXPECT_EQ(ListAll(wire, idle, 1000).size(), 1000u);
  ipc::ListRequest recent;
  recent.max_idle_s = 3600;
  recent.engine = "piper";
  EXPECT_EQ(ListAll(wire, recent, 1000).size(), 4000u);

  // Listing counted no hit and moved nothing.
  Result<ipc::StatsReply> stats = wire.StatsDetail();
  ASSERT_TRUE(stats.ok());
  for (const ipc::EngineStatsWire& e : stats->engines) EXPECT_EQ(e.hits, 0u) << e.name;
}

TEST(Operate, ListRefusesBadPageSizesAndAnswersHostileCursors) {
  DaemonProcess d;
  ASSERT_TRUE(d.Start()) << d.log();
  ASSERT_TRUE(d.Connect().Put("piper", "one", Tone(1)).ok());
  Wire wire(d.socket_path());
  for (uint32_t bad : {0u, 1025u, 5000u}) {
    ipc::ListRequest r;
    r.max_entries = bad;
    // Encoded by hand: EncodeListRequest writes whatever it is given.
    Result<ipc::ListReply> page = wire.List(r);
    ASSERT_FALSE(page.ok()) << bad;
    EXPECT_EQ(WireCode(page.error()), kBadRequest) << bad;
    EXPECT_THAT(page.error().message, HasSubstr("max_entries")) << bad;
  }
  for (uint64_t cursor : {uint64_t{1} << 63, ~uint64_t{0}, uint64_t{1} << 40}) {
    ipc::ListRequest r;
    r.cursor = cursor;
    Result<ipc::ListReply> page = wire.List(r);
    ASSERT_TRUE(page.ok()) << cursor << ": " << page.error().message;
    EXPECT_TRUE(page->entries.empty()) << cursor;
    EXPECT_EQ(page->next_cursor, 0u) << cursor;
  }
  ipc::ListRequest unknown;
  unknown.engine = "nosuch";
  Result<ipc::ListReply> page = wire.List(unknown);
  ASSERT_FALSE(page.ok());
  EXPECT_EQ(WireCode(page.error()), static_cast<int>(ipc::ErrorCode::kUnknownEngine));
  EXPECT_TRUE(wire.Ping()) << "the connection goes on after each refusal";
}

TEST(Operate, PingIsServedWhileAnotherClientPages) {
  DaemonProcess d({}, Keys{{"max_entries", "5000"}});
  ASSERT_TRUE(d.Start()) << d.log();
  {
    Client c = d.Connect();
    for (int i = 0; i < 3000; ++i)
      ASSERT_TRUE(c.Put("piper", std::to_string(i), Tone(1, 0.01)).ok());
  }
  std::atomic<bool> stop{false};
  std::atomic<int> pages{0};
  std::thread pager([&] {
    Wire wire(d.socket_path());
    ipc::ListRequest r;
    while (!stop) {
      Result<ipc::ListReply> page = wire.List(r);
      if (!page.ok()) break;
      pages++;
      r.cursor = page->next_cursor;
    }
  });
  // The pings must overlap the paging: wait for its first page (on a loaded
  // machine 200 pings could otherwise end before the pager connected).
  for (int i = 0; i < 1000 && pages == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_GT(pages, 0) << "the pager got no page in 5 s";
  Wire pinger(d.socket_path());
  int pings = 0;
  for (; pings < 200 && pinger.Ping(); ++pings) {
  }
  stop = true;
  pager.join();
  EXPECT_EQ(pings, 200);
}

TEST(Operate, VerifyFindsAFileTruncatedBehindTheDaemonsBack) {
  DaemonProcess d;
  ASSERT_TRUE(d.Start()) << d.log();
  Client client = d.Connect();
  ASSERT_TRUE(client.Put("piper", "sound", Tone(1)).ok());
  ASSERT_TRUE(client.Put("piper", "damaged", Tone(2)).ok());
  Wire wire(d.socket_path());
  Result<ipc::VerifyReply> clean = wire.Verify(false);
  ASSERT_TRUE(clean.ok()) << clean.error().message;
  EXPECT_EQ(clean->verdict, ipc::VerifyVerdict::kClean);
  EXPECT_GE(clean->entries_checked, 2u);

  const std::string path = d.cache_dir() + "/" + EntryRelativePath("piper", KeyOf("damaged"));
  ASSERT_EQ(truncate(path.c_str(), 100), 0) << path;
  Result<ipc::VerifyReply> found = wire.Verify(false);
  ASSERT_TRUE(found.ok()) << found.error().message;
  EXPECT_EQ(found->verdict, ipc::VerifyVerdict::kDamaged);
  ASSERT_GE(found->problems.size(), 1u);
  EXPECT_EQ(found->problems_total, found->problems.size());
  bool named = false;
  for (const ipc::VerifyProblem& p : found->problems) {
    named = named || p.path.find(KeyOf("damaged").hex()) != std::string::npos;
    EXPECT_FALSE(p.repaired);
  }
  EXPECT_TRUE(named) << "the problem names the truncated file";
  EXPECT_TRUE(fs::exists(path)) << "without repair nothing is touched";

  Result<ipc::VerifyReply> repaired = wire.Verify(true);
  ASSERT_TRUE(repaired.ok()) << repaired.error().message;
  EXPECT_EQ(repaired->verdict, ipc::VerifyVerdict::kRepaired);
  bool repaired_it = false;
  for (const ipc::VerifyProblem& p : repaired->problems) {
    repaired_it =
        repaired_it || (p.path.find(KeyOf("damaged").hex()) != std::string::npos && p.repaired);
  }
  EXPECT_TRUE(repaired_it) << "the truncated file's problem is marked repaired";
  EXPECT_FALSE(client.Get("piper", "damaged", Format::kWav).ok()) << "the bad entry was dropped";
  EXPECT_TRUE(client.Get("piper", "sound", Format::kWav).ok()) << "a sound entry stays";
  Result<ipc::VerifyReply> after = wire.Verify(false);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->verdict, ipc::VerifyVerdict::kClean);
  EXPECT_THAT(d.log(), HasSubstr("verify with repair: "));
}

// Anyone may ask VERIFY (without repair) and each reads the whole folder:
// one runs at a time; a burst pipelined on one connection gets BUSY for the
// rest, and the connection goes on.
TEST(Operate, OneVerifyAtATime) {
  DaemonProcess d;
  ASSERT_TRUE(d.Start()) << d.log();
  ASSERT_TRUE(d.Connect().Put("piper", "one", Tone(1)).ok());
  RawPeer peer(d.socket_path());
  std::vector<uint8_t> burst;
  for (uint64_t id = 1; id <= 8; ++id) {
    std::vector<uint8_t> frame = ipc::BuildFrame(static_cast<uint8_t>(ipc::Opcode::kVerify), id,
                                                 ipc::EncodeVerifyRequest({false}));
    burst.insert(burst.end(), frame.begin(), frame.end());
  }
  ASSERT_EQ(peer.Send(burst), static_cast<ssize_t>(burst.size()));
  int verified = 0, busy = 0;
  for (int i = 0; i < 8; ++i) {
    auto [op, id, body] = peer.Read();
    if (op == (static_cast<uint8_t>(ipc::Opcode::kVerify) | kReplyBit)) {
      verified++;
    } else if (op == kError && ErrorOf(body).code == ipc::ErrorCode::kBusy) {
      busy++;
      EXPECT_GT(ErrorOf(body).retry_after_ms, 0u);
      EXPECT_THAT(ErrorOf(body).message, HasSubstr("one at a time"));
    }
  }
  EXPECT_EQ(verified, 1);
  EXPECT_EQ(busy, 7);
  Wire wire(d.socket_path());
  EXPECT_TRUE(wire.Verify(false).ok()) << "the next one, once the first is done, runs";
}

TEST(Operate, StatsDetailIsSensible) {
  DaemonProcess d(Keys{{"queue_depth", "48"}});
  LetOthersConnect(d);
  ASSERT_TRUE(d.Start()) << d.log();
  Client client = d.Connect();
  ASSERT_TRUE(client.Put("piper", "old one", Tone(1)).ok());
  Wire wire(d.socket_path());
  Result<ipc::StatsReply> before = wire.StatsDetail();
  ASSERT_TRUE(before.ok()) << before.error().message;
  ASSERT_TRUE(before->has_detail);
  const ipc::StatsDetail& b = before->detail;
  EXPECT_GT(b.disk_free_bytes, 0u);
  EXPECT_GE(b.disk_total_bytes, b.disk_free_bytes);
  EXPECT_GE(b.connections_open, 2u) << "the client and this wire";
  EXPECT_EQ(b.queue_capacity, 48u);
  EXPECT_EQ(b.queue_depth, 0u);
  ASSERT_EQ(b.oldest_access_ns.size(), before->engines.size());
  for (size_t i = 0; i < before->engines.size(); ++i) {
    EXPECT_EQ(b.oldest_access_ns[i] != 0, before->engines[i].entries != 0)
        << before->engines[i].name;
  }
  ASSERT_TRUE(client.Encode(Tone(3, 0.3)).ok());
  ASSERT_TRUE(client.Get("piper", "old one", Format::kOpus).ok());  // a variant encode
  Result<ipc::StatsReply> after = wire.StatsDetail();
  ASSERT_TRUE(after.ok());
  const ipc::StatsDetail& a = after->detail;
  EXPECT_EQ(a.encode_count, b.encode_count + 2);
  EXPECT_GT(a.encode_sum_us, b.encode_sum_us);
  for (size_t i = 1; i < ipc::kEncodeHistogramBuckets; ++i) {
    EXPECT_LE(a.encode_buckets[i - 1], a.encode_buckets[i]) << "cumulative";
  }
  EXPECT_LE(a.encode_buckets.back(), a.encode_count);
  EXPECT_EQ(a.encode_count, after->encodes) << "every encode is timed";
  EXPECT_EQ(a.forbidden, 0u);
  if (getuid() == 0) {
    EXPECT_EQ(RunAsNobody([&] {
                Wire w(d.socket_path());
                return !w.Purge("piper").ok() ? 0 : 1;
              }),
              0);
    Result<ipc::StatsReply> refused = wire.StatsDetail();
    ASSERT_TRUE(refused.ok());
    EXPECT_EQ(refused->detail.forbidden, 1u);
  }
}

// `forbidden` counts the peers refused at accept (allowed_uids) too.
TEST(Operate, ForbiddenCountsPeersRefusedAtAccept) {
  if (getuid() != 0) GTEST_SKIP() << "needs root to connect as another user";
  DaemonProcess d(Keys{{"allowed_uids", "4242"}});
  LetOthersConnect(d);
  ASSERT_TRUE(d.Start()) << d.log();
  const std::string socket = d.socket_path();
  EXPECT_EQ(RunAsNobody([&] {
              Wire wire(socket);
              return wire.connected() && !wire.Ping() ? 0 : 1;
            }),
            0);
  Wire wire(socket);
  Result<ipc::StatsReply> stats = wire.StatsDetail();
  ASSERT_TRUE(stats.ok()) << stats.error().message;
  EXPECT_EQ(stats->detail.forbidden, 1u);
}

// max_age: the timer's maintenance expires an entry last used long ago,
// logs it, and counts it.
TEST(Operate, MaintenanceExpiresEntriesPastMaxAge) {
  DaemonProcess d({}, Keys{{"max_age", "1h"}});
  ASSERT_TRUE(d.Start()) << d.log();
  Client client = d.Connect();
  const std::vector<uint8_t> wav = Tone(1);
  const std::string path = d.dir() + "/old.wav";
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(wav.data()), static_cast<long>(wav.size()));
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  const uint64_t now_ns =
      static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count());
  ASSERT_TRUE(
      client.PutFileByKey("piper", KeyOf("old").digest, fd.get(), now_ns - 2ull * 3600 * 1000000000)
          .ok());
  // The timer's round (once a second) removes it, and says so.
  ASSERT_TRUE(WaitForLog(d, "cache maintenance: removed 1 entries unused past max_age")) << d.log();
  const std::array<uint8_t, 32> keys[] = {KeyOf("old").digest};
  Result<std::vector<bool>> has = client.HasKeys("piper", keys);
  ASSERT_TRUE(has.ok());
  EXPECT_FALSE((*has)[0]);
  // An entry in use stays.
  ASSERT_TRUE(client.Put("piper", "fresh", wav).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  EXPECT_TRUE(client.Get("piper", "fresh", Format::kWav).ok());
  Wire wire(d.socket_path());
  Result<ipc::StatsReply> stats = wire.StatsDetail();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->detail.expired, 1u);
  EXPECT_EQ(stats->detail.max_age_s, 3600u);
}

}  // namespace
}  // namespace ttscache
