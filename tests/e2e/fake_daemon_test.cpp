// libttscache against a daemon that lies (issue #13, finding 9): every lie
// must end in a clean error, never a crash, unbounded memory or bad data.
// Each client runs in a forked child (RunInChild) so a SIGBUS or an abort
// fails the test instead of ending the binary; the child prints what it got.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "ipc/messages.hpp"
#include "tests/e2e/fake_daemon.hpp"
#include "ttscache/client.hpp"
#include "ttscache/ttscache.h"

namespace ttscache {
namespace {

using testing::FakeDaemon;
using testing::RunInChild;

constexpr uint8_t kGetReply = static_cast<uint8_t>(ipc::Opcode::kGet) | ipc::kReplyBit;

// 0 when `r` failed and its message contains `expected`; 1 otherwise.
template <class R>
int FailedWith(const R& r, const std::string& expected) {
  if (r.ok()) {
    std::fprintf(stderr, "the call succeeded; expected an error with \"%s\"\n", expected.c_str());
    return 1;
  }
  std::fprintf(stderr, "error: %s\n", r.error().message.c_str());
  return r.error().message.find(expected) == std::string::npos;
}

// Answers every GET with `size` bytes by descriptor, passing `fd`.
FakeDaemon::Answer PassDescriptor(int fd, uint64_t size) {
  return [fd, size](int socket, const ipc::Frame& request) {
    FakeDaemon::Reply(socket, kGetReply, request.header.request_id,
                      ipc::EncodeAudioReply(ipc::AudioPlace::kArena, size, {}, {1, 1}), fd);
  };
}

// Reads every byte of a client's GET, as a program using the audio would.
int GetAndRead(const std::string& socket, const std::string& expected_error) {
  Result<Client> c = Client::Connect({socket, 5000});
  if (!c) return 2;
  Result<AudioBuffer> audio = c->Get("piper", "hello", Format::kWav);
  if (audio) {
    // The first 16 MiB are enough: SIGBUS here past a short file's end.
    std::span<const uint8_t> bytes = audio->u8().first(std::min<size_t>(audio->size(), 16 << 20));
    unsigned sum = 0;
    for (uint8_t b : bytes) sum += b;
    std::fprintf(stderr, "got %zu bytes, read %zu (sum %u)\n", audio->size(), bytes.size(), sum);
  }
  return FailedWith(audio, expected_error);
}

TEST(FakeDaemon, ADescriptorShorterThanAnnouncedIsAnErrorNotSigbus) {
  UniqueFd memfd(memfd_create("short", MFD_CLOEXEC));
  ASSERT_EQ(ftruncate(memfd.get(), 100), 0);
  FakeDaemon fake(PassDescriptor(memfd.get(), 1 << 20));
  EXPECT_EQ(RunInChild([&] { return GetAndRead(fake.path(), "in a file of 100"); }), "");
}

TEST(FakeDaemon, DevZeroWithAHugeSizeIsRefused) {
  UniqueFd zero(open("/dev/zero", O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(zero.valid());
  FakeDaemon fake(PassDescriptor(zero.get(), 1ull << 40));
  EXPECT_EQ(RunInChild([&] { return GetAndRead(fake.path(), "not a regular file"); }), "");
}

TEST(FakeDaemon, APipeWithAHugeSizeIsRefused) {
  int p[2];
  ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
  UniqueFd r(p[0]), w(p[1]);
  FakeDaemon fake(PassDescriptor(r.get(), 1ull << 40));
  EXPECT_EQ(RunInChild([&] { return GetAndRead(fake.path(), "not a regular file"); }), "");
}

TEST(FakeDaemon, AMalformedErrorReplyToArenaIsAnError) {
  FakeDaemon fake([](int socket, const ipc::Frame& request) {
    const uint8_t garbage[] = {1, 2, 3};
    FakeDaemon::Reply(socket, static_cast<uint8_t>(ipc::Opcode::kError), request.header.request_id,
                      garbage);
  });
  EXPECT_EQ(RunInChild([&] {
              Result<Client> c = Client::Connect({fake.path(), 5000});
              if (!c) return 2;
              Status s = c->AttachArena(1 << 16);  // aborted with bad_variant_access
              return FailedWith(s, "undecodable error reply");
            }),
            "");
}

TEST(FakeDaemon, AnEncodeSizeBeyondTheOutputRangeIsAnError) {
  FakeDaemon fake([](int socket, const ipc::Frame& request) {
    const uint8_t op = request.header.opcode;
    std::vector<uint8_t> body;
    if (op == static_cast<uint8_t>(ipc::Opcode::kEncode)) {
      body = ipc::EncodeAudioReply(ipc::AudioPlace::kArena, 5000, {});  // asked for at most 200
    }
    FakeDaemon::Reply(socket, op | ipc::kReplyBit, request.header.request_id, body);
  });
  EXPECT_EQ(RunInChild([&] {
              Result<Client> c = Client::Connect({fake.path(), 5000});
              if (!c || !c->AttachArena(1 << 16)) return 2;
              Result<uint64_t> size = c->EncodeInArena(0, 100, 1000, 200);
              if (size)
                std::fprintf(stderr, "EncodeInArena returned %llu\n",
                             static_cast<unsigned long long>(*size));
              return FailedWith(size, "5000 bytes of Opus for an output range of 200");
            }),
            "");
}

TEST(FakeDaemon, UnaskedForRepliesEndTheConnection) {
  // 20,000 replies to requests never sent, then the real one: stored, they
  // would grow without bound; the client must give up on the first.
  FakeDaemon fake([](int socket, const ipc::Frame& request) {
    const uint8_t pong = static_cast<uint8_t>(ipc::Opcode::kPing) | ipc::kReplyBit;
    for (uint64_t id = 1000; id < 21000; ++id) {
      if (!FakeDaemon::Reply(socket, pong, id, std::vector<uint8_t>(512, 0))) return;
    }
    FakeDaemon::Reply(socket, pong, request.header.request_id, {});
  });
  EXPECT_EQ(RunInChild([&] {
              Result<Client> c = Client::Connect({fake.path(), 5000});
              if (!c) return 2;
              return FailedWith(c->Ping(), "reply for request 1000, which is not outstanding");
            }),
            "");
}

// A reply must be the request's own (its opcode | 0x80) or an ERROR: a PING's
// reply to a GET would otherwise be decoded as the wrong message.
TEST(FakeDaemon, AReplyOfAnotherOpcodeEndsTheConnection) {
  FakeDaemon fake([](int socket, const ipc::Frame& request) {
    const uint8_t pong = static_cast<uint8_t>(ipc::Opcode::kPing) | ipc::kReplyBit;
    FakeDaemon::Reply(socket, pong, request.header.request_id, {});
  });
  EXPECT_EQ(RunInChild([&] {
              Result<Client> c = Client::Connect({fake.path(), 5000});
              if (!c) return 2;
              const std::string want = "reply opcode " + std::to_string(0x82) + " to request ";
              if (FailedWith(c->Get("piper", "hi", Format::kWav), want) != 0) return 3;
              return c->Ping().ok() ? 0 : 4;  // a new connection: the same lie answers a PING
            }),
            "");
}

// HELLO asks for versions 1..1; a daemon that picks another is refused, not
// believed (its limits would be read with the wrong layout).
TEST(FakeDaemon, AHelloOutsideTheAskedVersionsIsRefused) {
  FakeDaemon fake([](int socket, const ipc::Frame& request) {
    ipc::HelloReply hello;
    hello.version = 65535;
    FakeDaemon::Reply(socket, request.header.opcode | ipc::kReplyBit, request.header.request_id,
                      ipc::EncodeHelloReply(hello));
  });
  EXPECT_EQ(RunInChild([&] {
              Result<Client> c = Client::Connect({fake.path(), 5000});
              if (!c) return 2;
              Result<Hello> hello = c->Hello();
              if (FailedWith(hello, "protocol version 65535, outside the 1..1 asked") != 0) {
                return 3;
              }
              return hello.error().code == Errc::kInternal ? 0 : 4;
            }),
            "");
}

// Pipelined requests answered out of order are still matched by id (a reply
// to an outstanding request is kept until asked for); a second reply to the
// same request is a violation.
TEST(FakeDaemon, OutOfOrderRepliesToOutstandingRequestsAreKeptDuplicatesAreNot) {
  std::vector<uint64_t> ids;  // the serving thread's
  FakeDaemon fake([&ids](int socket, const ipc::Frame& request) {
    ids.push_back(request.header.request_id);
    if (ids.size() < 3) return;
    for (auto id = ids.rbegin(); id != ids.rend(); ++id) {
      const uint8_t tag = static_cast<uint8_t>(*id);
      FakeDaemon::Reply(socket, kGetReply, *id,
                        ipc::EncodeAudioReply(ipc::AudioPlace::kInline, 1, {&tag, 1}));
    }
    FakeDaemon::Reply(socket, kGetReply, ids.front(),  // again
                      ipc::EncodeAudioReply(ipc::AudioPlace::kInline, 0, {}));
  });
  Client c = Client::Connect({fake.path(), 5000}).value();
  uint64_t sent[3];
  for (uint64_t& id : sent) id = c.SendGet("piper", "hi", Format::kWav, {}, false).value();
  for (uint64_t id : sent) {
    Result<AudioBuffer> a = c.ReceiveGet(id);
    ASSERT_TRUE(a.ok()) << a.error().message;
    ASSERT_EQ(a->size(), 1u);
    EXPECT_EQ(a->u8()[0], static_cast<uint8_t>(id));
  }
  Result<AudioBuffer> late = c.ReceiveGet(sent[0] + 100);
  ASSERT_FALSE(late.ok());
  EXPECT_NE(late.error().message.find("which is not outstanding"), std::string::npos)
      << late.error().message;
}

// The C API: the same short descriptor through ttscache_get.
TEST(FakeDaemon, CApiGetOfAShortDescriptorIsAnError) {
  UniqueFd memfd(memfd_create("short", MFD_CLOEXEC));
  ASSERT_EQ(ftruncate(memfd.get(), 100), 0);
  FakeDaemon fake(PassDescriptor(memfd.get(), 1 << 20));
  EXPECT_EQ(RunInChild([&] {
              ttscache_client* c = ttscache_client_new(fake.path().c_str(), 5000);
              ttscache_buffer out;
              int rc = ttscache_get(c, "piper", "hello", 5, TTSCACHE_FORMAT_WAV, 0, &out);
              if (rc == TTSCACHE_OK) {
                unsigned sum = 0;
                for (size_t i = 0; i < out.size; ++i) sum += out.data[i];
                std::fprintf(stderr, "read %zu bytes (sum %u)\n", out.size, sum);
                return 1;
              }
              std::fprintf(stderr, "rc %d: %s\n", rc, ttscache_last_error(c));
              const bool said =
                  std::string(ttscache_last_error(c)).find("in a file of 100") != std::string::npos;
              ttscache_client_free(c);
              return rc == TTSCACHE_ERR_INTERNAL && said ? 0 : 1;
            }),
            "");
}

// The C API refuses a daemon that is not the uid named by TTSCACHE_DAEMON_UID.
TEST(FakeDaemon, CApiRefusesADaemonOfAnotherUid) {
  FakeDaemon fake([](int socket, const ipc::Frame& request) {
    FakeDaemon::Reply(socket, static_cast<uint8_t>(ipc::Opcode::kPing) | ipc::kReplyBit,
                      request.header.request_id, {});
  });
  EXPECT_EQ(RunInChild([&] {
              setenv("TTSCACHE_DAEMON_UID", std::to_string(fake.peer_uid() + 1).c_str(), 1);
              ttscache_client* c = ttscache_client_new(fake.path().c_str(), 5000);
              int rc = ttscache_ping(c);
              std::fprintf(stderr, "rc %d: %s\n", rc, ttscache_last_error(c));
              ttscache_client_free(c);
              return rc == TTSCACHE_ERR_FORBIDDEN ? 0 : 1;
            }),
            "");
  EXPECT_EQ(RunInChild([&] {
              setenv("TTSCACHE_DAEMON_UID", std::to_string(fake.peer_uid()).c_str(), 1);
              ttscache_client* c = ttscache_client_new(fake.path().c_str(), 5000);
              int rc = ttscache_ping(c);
              ttscache_client_free(c);
              return rc;
            }),
            "");
}

}  // namespace
}  // namespace ttscache

namespace ttscache {
namespace {

// A reply the library cannot decode is the daemon's fault (or a version
// skew), never the caller's: not TTSCACHE_ERR_BAD_REQUEST, which says the
// daemon refused the request ("your input is wrong, do not retry").
TEST(FakeDaemon, AMalformedReplyIsNotTheCallersBadRequest) {
  testing::FakeDaemon fake([](int socket, const ipc::Frame& request) {
    const std::vector<uint8_t> body = {0xFF, 0xFF, 0xFF, 0xFF, 0x07};  // decodes as nothing
    testing::FakeDaemon::Reply(socket, request.header.opcode | ipc::kReplyBit,
                               request.header.request_id, body);
  });
  EXPECT_EQ(testing::RunInChild([&] {
              ttscache_client* c = ttscache_client_new(fake.path().c_str(), 2000);
              ttscache_stats* stats = nullptr;
              const int rc_stats = ttscache_stats_get(c, &stats);
              ttscache_hello_info hello;
              const int rc_hello = ttscache_hello(c, &hello);
              ttscache_buffer b;
              const int rc_get = ttscache_get(c, "piper", "x", 1, TTSCACHE_FORMAT_WAV, 0, &b);
              ttscache_stream_format f = {TTSCACHE_STREAM_RAW, TTSCACHE_SAMPLE_S16LE, 1, 16000};
              ttscache_stream* s = nullptr;
              const int rc_open =
                  ttscache_stream_open(c, &f, 0, nullptr, nullptr, 0, nullptr, nullptr, &s);
              std::fprintf(stderr, "stats %s, hello %s, get %s, stream_open %s (%s)\n",
                           ttscache_strerror(rc_stats), ttscache_strerror(rc_hello),
                           ttscache_strerror(rc_get), ttscache_strerror(rc_open),
                           ttscache_last_error(c));
              ttscache_client_free(c);
              return rc_stats == TTSCACHE_ERR_INTERNAL && rc_hello == TTSCACHE_ERR_INTERNAL &&
                             rc_get == TTSCACHE_ERR_INTERNAL && rc_open == TTSCACHE_ERR_INTERNAL
                         ? 0
                         : 1;
            }),
            "");
}

}  // namespace
}  // namespace ttscache
