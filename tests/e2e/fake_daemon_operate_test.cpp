// libttscache's operating calls (Delete, Purge, List, ForEachEntry, Verify,
// StatsDetail, and their C API) against a daemon that lies: a LIST page
// claiming 2^32 entries or cut inside an entry, more entries than asked, a
// cursor that never moves, a DELETE answered with another opcode, a VERIFY
// listing 1,001 problems, a STATS detail for the wrong number of engines.
// Each must end in a clean error (never a crash, a hang or an allocation
// sized by the lie), and a reply that breaks the protocol ends the
// connection. FORBIDDEN reaches C++ and C as its own code and leaves the
// connection open. Clients run in forked children (RunInChild).
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>
#include <cstdio>
#include <stdexcept>
#include <string>

#include "ipc/messages.hpp"
#include "tests/e2e/fake_daemon.hpp"
#include "ttscache/client.hpp"
#include "ttscache/ttscache.h"

namespace ttscache {
namespace {

using testing::FakeDaemon;
using testing::RunInChild;

uint8_t ReplyTo(ipc::Opcode op) { return static_cast<uint8_t>(op) | ipc::kReplyBit; }

// 0 when `r` failed with `code` and its message contains `expected`; 1 otherwise.
template <class R>
int FailedWith(const R& r, Errc code, const std::string& expected) {
  if (r.ok()) {
    std::fprintf(stderr, "the call succeeded; expected an error with \"%s\"\n", expected.c_str());
    return 1;
  }
  std::fprintf(stderr, "error %d: %s\n", static_cast<int>(r.error().code),
               r.error().message.c_str());
  return r.error().code != code || r.error().message.find(expected) == std::string::npos;
}

// A fake that answers each request with `reply(request)`'s opcode and body
// and counts connections and requests.
struct Scripted {
  std::atomic<int> requests{0};
  std::atomic<int> connections{0};
  std::function<std::pair<uint8_t, std::vector<uint8_t>>(const ipc::Frame&)> reply;
  FakeDaemon::Answer Answer() {
    return [this](int socket, const ipc::Frame& request) {
      ++requests;
      auto [op, body] = reply(request);
      FakeDaemon::Reply(socket, op, request.header.request_id, body);
    };
  }
};

// Whether `socket` is another connection than the last one seen (by inode:
// a closed connection's descriptor number is reused by the next accept).
bool NewConnection(int socket) {
  static ino_t last = 0;
  struct stat st {};
  ::fstat(socket, &st);
  const bool fresh = st.st_ino != last;
  last = st.st_ino;
  return fresh;
}

ipc::ListEntry Entry(uint8_t first) {
  ipc::ListEntry e;
  e.engine = "piper";
  e.key[0] = first;
  e.wav_bytes = e.total_bytes = 1000;
  e.last_access_ns = 1;
  return e;
}

TEST(FakeDaemonOperate, AListClaimingFourBillionEntriesIsRefused) {
  FakeDaemon fake([](int socket, const ipc::Frame& request) {
    std::vector<uint8_t> body(12, 0);  // u64 next_cursor 0, u32 count
    body[8] = body[9] = body[10] = body[11] = 0xFF;
    FakeDaemon::Reply(socket, ReplyTo(ipc::Opcode::kList), request.header.request_id, body);
  });
  EXPECT_EQ(RunInChild([&] {
              Result<Client> c = Client::Connect({fake.path(), 5000});
              if (!c) return 2;
              return FailedWith(c->List(0, {}), Errc::kInternal, "LIST reply: entry count");
            }),
            "");
}

TEST(FakeDaemonOperate, AListEntryCutShortIsRefused) {
  FakeDaemon fake([](int socket, const ipc::Frame& request) {
    ipc::ListReply l;
    l.entries.push_back(Entry(1));
    std::vector<uint8_t> body = ipc::EncodeListReply(l);
    body.resize(body.size() - 5);  // inside the last entry's last_access_ns
    FakeDaemon::Reply(socket, ReplyTo(ipc::Opcode::kList), request.header.request_id, body);
  });
  EXPECT_EQ(RunInChild([&] {
              Result<Client> c = Client::Connect({fake.path(), 5000});
              if (!c) return 2;
              return FailedWith(c->List(0, {}), Errc::kInternal, "malformed reply");
            }),
            "");
}

TEST(FakeDaemonOperate, AListLongerThanAskedEndsTheConnection) {
  Scripted s;
  s.reply = [](const ipc::Frame&) {
    ipc::ListReply l;
    l.entries = {Entry(1), Entry(2), Entry(3)};
    return std::make_pair(ReplyTo(ipc::Opcode::kList), ipc::EncodeListReply(l));
  };
  FakeDaemon fake(s.Answer());
  EXPECT_EQ(RunInChild([&] {
              Result<Client> c = Client::Connect({fake.path(), 5000});
              if (!c) return 2;
              return FailedWith(c->List(0, {}, 2), Errc::kInternal, "more than the 2 asked");
            }),
            "");
}

TEST(FakeDaemonOperate, ACursorThatNeverMovesEndsTheListing) {
  Scripted s;
  s.reply = [](const ipc::Frame&) {
    ipc::ListReply l;
    l.next_cursor = 7;
    l.entries = {Entry(1)};
    return std::make_pair(ReplyTo(ipc::Opcode::kList), ipc::EncodeListReply(l));
  };
  FakeDaemon fake(s.Answer());
  EXPECT_EQ(RunInChild([&] {
              Result<Client> c = Client::Connect({fake.path(), 5000});
              if (!c) return 2;
              int seen = 0;
              Status st = c->ForEachEntry({}, [&](const ListedEntry&) { return ++seen < 100; });
              std::fprintf(stderr, "saw %d entries\n", seen);
              if (seen != 1) return 1;  // the page from 0 (next: 7), then 7 → 7 is refused
              return FailedWith(st, Errc::kInternal, "with the same cursor");
            }),
            "");
}

TEST(FakeDaemonOperate, ForEachEntryAsksPageByPageAndStopsWhenTold) {
  Scripted s;
  s.reply = [](const ipc::Frame& request) {
    Result<ipc::ListRequest> asked = ipc::DecodeListRequest(request.body);
    ipc::ListReply l;
    l.next_cursor = asked->cursor + 1;  // endless pages of 3
    l.entries = {Entry(1), Entry(2), Entry(3)};
    return std::make_pair(ReplyTo(ipc::Opcode::kList), ipc::EncodeListReply(l));
  };
  FakeDaemon fake(s.Answer());
  EXPECT_EQ(RunInChild([&] {
              Result<Client> c = Client::Connect({fake.path(), 5000});
              if (!c) return 2;
              int seen = 0;
              Status st = c->ForEachEntry({}, [&](const ListedEntry&) { return ++seen < 7; });
              return st.ok() && seen == 7 ? 0 : 1;
            }),
            "");
  EXPECT_EQ(s.requests.load(), 3);  // pages of 3: the 7th entry is on the third
}

TEST(FakeDaemonOperate, AnExceptionFromTheCallbackComesBackAsAnError) {
  Scripted s;
  s.reply = [](const ipc::Frame&) {
    ipc::ListReply l;
    l.entries = {Entry(1)};
    return std::make_pair(ReplyTo(ipc::Opcode::kList), ipc::EncodeListReply(l));
  };
  FakeDaemon fake(s.Answer());
  EXPECT_EQ(RunInChild([&] {
              Result<Client> c = Client::Connect({fake.path(), 5000});
              if (!c) return 2;
              Status st = c->ForEachEntry({}, [](const ListedEntry&) -> bool {
                throw std::runtime_error("the caller's bug");
              });
              return FailedWith(st, Errc::kInternal, "the caller's bug");
            }),
            "");
}

TEST(FakeDaemonOperate, ADeleteAnsweredWithAnotherOpcodeEndsTheConnection) {
  Scripted s;
  s.reply = [](const ipc::Frame& request) {
    if (request.header.opcode == static_cast<uint8_t>(ipc::Opcode::kPing)) {
      return std::make_pair(ReplyTo(ipc::Opcode::kPing), std::vector<uint8_t>());
    }
    return std::make_pair(ReplyTo(ipc::Opcode::kPurge), ipc::EncodePurgeReply({1, 2}));
  };
  std::atomic<int> connections{0};
  FakeDaemon fake([&](int socket, const ipc::Frame& request) {
    if (NewConnection(socket)) ++connections;
    s.Answer()(socket, request);
  });
  EXPECT_EQ(RunInChild([&] {
              Result<Client> c = Client::Connect({fake.path(), 5000});
              if (!c) return 2;
              if (FailedWith(c->Delete("piper", "hello"), Errc::kInternal, "protocol violation")) {
                return 1;
              }
              return c->Ping().ok() ? 0 : 1;  // on a new connection
            }),
            "");
  EXPECT_EQ(connections.load(), 2) << "the connection that lied must be replaced";
}

TEST(FakeDaemonOperate, ADeleteThatFreedBytesOfNothingIsRefused) {
  Scripted s;
  s.reply = [](const ipc::Frame&) {
    return std::make_pair(ReplyTo(ipc::Opcode::kDelete), ipc::EncodeDeleteReply({false, 99, 0}));
  };
  FakeDaemon fake(s.Answer());
  EXPECT_EQ(RunInChild([&] {
              Result<Client> c = Client::Connect({fake.path(), 5000});
              if (!c) return 2;
              return FailedWith(c->Delete("piper", "hello"), Errc::kInternal, "nothing deleted");
            }),
            "");
}

TEST(FakeDaemonOperate, AVerifyListingMoreThanAThousandProblemsIsRefused) {
  Scripted s;
  s.reply = [](const ipc::Frame&) {
    ipc::VerifyReply v;
    v.verdict = ipc::VerifyVerdict::kDamaged;
    v.problems_total = 1001;
    v.problems.resize(1001, {"bad-wav", "piper/x.wav", "lies", false});
    return std::make_pair(ReplyTo(ipc::Opcode::kVerify), ipc::EncodeVerifyReply(v));
  };
  FakeDaemon fake(s.Answer());
  EXPECT_EQ(RunInChild([&] {
              Result<Client> c = Client::Connect({fake.path(), 5000});
              if (!c) return 2;
              return FailedWith(c->Verify(false), Errc::kInternal, "problem count");
            }),
            "");
}

TEST(FakeDaemonOperate, AVerifyWithFewerProblemsInTotalThanListedIsRefused) {
  Scripted s;
  s.reply = [](const ipc::Frame&) {
    ipc::VerifyReply v;
    v.verdict = ipc::VerifyVerdict::kDamaged;
    v.problems_total = 1;
    v.problems.resize(3, {"bad-wav", "piper/x.wav", "lies", false});
    return std::make_pair(ReplyTo(ipc::Opcode::kVerify), ipc::EncodeVerifyReply(v));
  };
  FakeDaemon fake(s.Answer());
  EXPECT_EQ(RunInChild([&] {
              Result<Client> c = Client::Connect({fake.path(), 5000});
              if (!c) return 2;
              return FailedWith(c->Verify(false), Errc::kInternal, "of a total of 1");
            }),
            "");
}

TEST(FakeDaemonOperate, VerifyAndPurgeRepliesArriveAsSent) {
  Scripted s;
  s.reply = [](const ipc::Frame& request) {
    if (request.header.opcode == static_cast<uint8_t>(ipc::Opcode::kPurge)) {
      return std::make_pair(ReplyTo(ipc::Opcode::kPurge), ipc::EncodePurgeReply({5, 5000}));
    }
    ipc::VerifyReply v;
    v.verdict = ipc::VerifyVerdict::kRepaired;
    v.entries_checked = 10;
    v.files_checked = 12;
    v.problems_total = 1;
    v.problems.push_back({"temporary", "piper/.tmp.1", "a leftover temporary", true});
    return std::make_pair(ReplyTo(ipc::Opcode::kVerify), ipc::EncodeVerifyReply(v));
  };
  FakeDaemon fake(s.Answer());
  EXPECT_EQ(RunInChild([&] {
              Result<Client> c = Client::Connect({fake.path(), 5000});
              if (!c) return 2;
              Result<PurgeResult> p = c->Purge("piper/en_US-lessac-medium");
              Result<VerifyResult> v = c->Verify(true);
              return p && p->entries == 5 && p->bytes == 5000 && v &&
                             v->verdict == VerifyVerdict::kRepaired && v->problems.size() == 1 &&
                             v->problems[0].kind == "temporary" && v->problems[0].repaired
                         ? 0
                         : 1;
            }),
            "");
}

TEST(FakeDaemonOperate, ForbiddenIsItsOwnCodeAndTheConnectionStays) {
  Scripted s;
  s.reply = [](const ipc::Frame& request) {
    if (request.header.opcode == static_cast<uint8_t>(ipc::Opcode::kPing)) {
      return std::make_pair(ReplyTo(ipc::Opcode::kPing), std::vector<uint8_t>());
    }
    ipc::ErrorReply e;
    e.code = ipc::ErrorCode::kForbidden;
    e.message = "DELETE is an admin operation: uid 1000 is not in admin_uids";
    return std::make_pair(static_cast<uint8_t>(ipc::Opcode::kError), ipc::EncodeErrorReply(e));
  };
  std::atomic<int> connections{0};
  FakeDaemon fake([&](int socket, const ipc::Frame& request) {
    if (NewConnection(socket)) ++connections;
    s.Answer()(socket, request);
  });
  EXPECT_EQ(RunInChild([&] {
              {
                Result<Client> c = Client::Connect({fake.path(), 5000});
                if (!c) return 2;
                if (FailedWith(c->Purge("piper"), Errc::kForbidden, "admin_uids")) return 1;
                if (!c->Ping().ok()) return 1;
              }  // (the fake serves one connection at a time)
              // The C API: TTSCACHE_ERR_FORBIDDEN, the daemon's message.
              ttscache_client* cc = ttscache_client_new(fake.path().c_str(), 5000);
              ttscache_delete_result d;
              int rc = ttscache_delete(cc, "piper", "hello", 5, &d);
              std::string message = ttscache_last_error(cc);
              ttscache_client_free(cc);
              std::fprintf(stderr, "C: %d %s\n", rc, message.c_str());
              return rc == TTSCACHE_ERR_FORBIDDEN && message.find("admin_uids") != std::string::npos
                         ? 0
                         : 1;
            }),
            "");
  EXPECT_EQ(connections.load(), 2) << "one for C++ (kept after FORBIDDEN), one for C";
}

TEST(FakeDaemonOperate, CApiListAndVerifyHandOutWhatWasSent) {
  Scripted s;
  s.reply = [](const ipc::Frame& request) {
    if (request.header.opcode == static_cast<uint8_t>(ipc::Opcode::kList)) {
      ipc::ListReply l;
      l.next_cursor = 9;
      l.entries = {Entry(0xAB), Entry(0xCD)};
      l.entries[1].engine = "piper/en_US-lessac-medium";
      OpusParams p;
      p.bitrate_kbps = 24;
      l.entries[1].variants.push_back({p, 321});
      return std::make_pair(ReplyTo(ipc::Opcode::kList), ipc::EncodeListReply(l));
    }
    if (request.header.opcode == static_cast<uint8_t>(ipc::Opcode::kDelete)) {
      return std::make_pair(ReplyTo(ipc::Opcode::kDelete), ipc::EncodeDeleteReply({false, 0, 0}));
    }
    ipc::VerifyReply v;
    v.verdict = ipc::VerifyVerdict::kDamaged;
    v.problems_total = 2000;
    v.problems.push_back({"size-mismatch", "piper/a.wav", "1000 bytes, indexed 2000", false});
    return std::make_pair(ReplyTo(ipc::Opcode::kVerify), ipc::EncodeVerifyReply(v));
  };
  FakeDaemon fake(s.Answer());
  EXPECT_EQ(RunInChild([&] {
              ttscache_client* c = ttscache_client_new(fake.path().c_str(), 5000);
              ttscache_list_filter f{};
              f.engine = "piper";
              ttscache_list_page* page = nullptr;
              int bad = ttscache_list(c, 0, &f, 0, &page) != TTSCACHE_ERR_INVALID_ARGUMENT;
              if (int rc = ttscache_list(c, 0, &f, 10, &page); rc != TTSCACHE_OK) {
                std::fprintf(stderr, "list: %d %s\n", rc, ttscache_last_error(c));
                return 10;
              }
              bad |= page->next_cursor != 9 || page->count != 2 ||
                     page->entries[0].key[0] != 0xAB ||
                     std::string(page->entries[1].engine) != "piper/en_US-lessac-medium" ||
                     page->entries[1].variant_count != 1 ||
                     page->entries[1].variants[0].params.bitrate_kbps != 24 ||
                     page->entries[1].variants[0].params.vbr != TTSCACHE_VBR_ON ||
                     page->entries[1].variants[0].bytes != 321;
              ttscache_list_free(page);
              ttscache_verify_report* v = nullptr;
              if (ttscache_verify(c, 0, &v) != TTSCACHE_OK) return 11;
              bad |= v->verdict != TTSCACHE_VERIFY_DAMAGED || v->problems_total != 2000 ||
                     v->problem_count != 1 || std::string(v->problems[0].kind) != "size-mismatch";
              ttscache_verify_free(v);
              ttscache_delete_result d;
              bad |= ttscache_delete(c, "piper", "x", 1, &d) != TTSCACHE_MISS || d.deleted != 0;
              ttscache_list_free(nullptr);
              ttscache_verify_free(nullptr);
              ttscache_stats_detail_free(nullptr);
              ttscache_client_free(c);
              return bad;
            }),
            "");
}

TEST(FakeDaemonOperate, AStatsDetailForTheWrongNumberOfEnginesIsRefused) {
  Scripted s;
  s.reply = [](const ipc::Frame&) {
    ipc::StatsReply r;
    r.engines.push_back({"piper", 1, 2, 3, 4, 5, 6, 7, 8});
    r.has_limits = r.has_streams = r.has_detail = true;
    r.detail.oldest_access_ns = {1, 2, 3};  // three ages for one engine
    return std::make_pair(ReplyTo(ipc::Opcode::kStats), ipc::EncodeStatsReply(r));
  };
  FakeDaemon fake(s.Answer());
  EXPECT_EQ(RunInChild([&] {
              Result<Client> c = Client::Connect({fake.path(), 5000});
              if (!c) return 2;
              return FailedWith(c->StatsDetail(), Errc::kInternal, "STATS reply");
            }),
            "");
}

TEST(FakeDaemonOperate, AnOldDaemonsStatsHasNoDetail) {
  Scripted s;
  s.reply = [](const ipc::Frame&) {
    ipc::StatsReply r;
    r.engines.push_back({"piper", 1, 2, 3, 4, 5, 6, 7, 8});
    r.has_limits = r.has_streams = true;  // flag 4 ignored, as a daemon before it does
    return std::make_pair(ReplyTo(ipc::Opcode::kStats), ipc::EncodeStatsReply(r));
  };
  FakeDaemon fake(s.Answer());
  EXPECT_EQ(RunInChild([&] {
              Result<Client> c = Client::Connect({fake.path(), 5000});
              if (!c) return 2;
              Result<StatsDetail> d = c->StatsDetail();
              return d && !d->has_detail && d->stats.engines.size() == 1 &&
                             d->stats.engines[0].hits == 3 && d->HitRatio(0) == 3.0 / 7
                         ? 0
                         : 1;
            }),
            "");
}

}  // namespace
}  // namespace ttscache
