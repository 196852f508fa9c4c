// ClientOptions::daemon_uid: the client checks who answers at the socket
// (SO_PEERCRED) before sending anything (issue #13, finding 9).
#include <gtest/gtest.h>
#include <unistd.h>

#include "ipc/messages.hpp"
#include "tests/e2e/fake_daemon.hpp"
#include "ttscache/client.hpp"

namespace ttscache {
namespace {

using testing::FakeDaemon;

TEST(DaemonIdentity, ADaemonOfAnotherUidIsRefused) {
  FakeDaemon fake([](int socket, const ipc::Frame& request) {
    FakeDaemon::Reply(socket, static_cast<uint8_t>(ipc::Opcode::kPing) | ipc::kReplyBit,
                      request.header.request_id, {});
  });
  ClientOptions options;
  options.socket_path = fake.path();
  options.daemon_uid = static_cast<int64_t>(fake.peer_uid()) + 1;
  Result<Client> refused = Client::Connect(options);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, Errc::kForbidden);
  EXPECT_NE(refused.error().message.find("runs as uid " + std::to_string(fake.peer_uid())),
            std::string::npos)
      << refused.error().message;

  options.daemon_uid = fake.peer_uid();
  {  // (the fake daemon serves one connection at a time)
    Result<Client> accepted = Client::Connect(options);
    ASSERT_TRUE(accepted.ok()) << accepted.error().message;
    EXPECT_TRUE(accepted->Ping().ok());
  }
  // The default: the socket file's owner (here: us) or root.
  Result<Client> by_owner = Client::Connect({fake.path(), 5000});
  ASSERT_TRUE(by_owner.ok()) << by_owner.error().message;
  EXPECT_TRUE(by_owner->Ping().ok());
}

TEST(DaemonIdentity, ByDefaultAPeerThatDoesNotOwnTheSocketFileIsRefused) {
  if (getuid() != 0) GTEST_SKIP() << "giving the socket file to another owner needs root";
  FakeDaemon fake([](int, const ipc::Frame&) {});
  ASSERT_EQ(chown(fake.path().c_str(), 12345, 12345), 0);
  Result<Client> refused = Client::Connect({fake.path(), 5000});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, Errc::kForbidden);
  EXPECT_NE(refused.error().message.find("expected uid 12345 (the socket file's owner) or root"),
            std::string::npos)
      << refused.error().message;
}

}  // namespace
}  // namespace ttscache
