// [tier] sasl_credentials: "user:password" read from an absolute path or
// from $CREDENTIALS_DIRECTORY; every malformed or unreadable file a kConfig
// error naming the path and what was expected — never the secret.
#include "daemon/tier/sasl_credentials.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

#include "tests/support/temp_dir.hpp"

namespace ttscache {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class SaslCredentialsTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& name, const std::string& text) {
    std::ofstream(dir_.path() + "/" + name) << text;
    return dir_.path() + "/" + name;
  }
  EnvLookup Env() {
    return [this](const char* name) {
      return std::string(name) == "CREDENTIALS_DIRECTORY" ? dir_.path().c_str() : nullptr;
    };
  }
  testing::TempDir dir_;
};

TEST_F(SaslCredentialsTest, ReadsUserAndPassword) {
  Result<SaslCredentials> c = ReadSaslCredentials(Write("a", "fleet:s3cr:et\n"));
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->user, "fleet");
  EXPECT_EQ(c->password, "s3cr:et");
  c = ReadSaslCredentials(Write("b", "u:p"));
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->password, "p");
}

TEST_F(SaslCredentialsTest, ARelativeNameIsUnderCredentialsDirectory) {
  Write("memcached", "fleet:pw\n");
  Result<SaslCredentials> c = ReadSaslCredentials("memcached", Env());
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->user, "fleet");
  Result<SaslCredentials> unset =
      ReadSaslCredentials("memcached", [](const char*) -> const char* { return nullptr; });
  ASSERT_FALSE(unset.ok());
  EXPECT_EQ(unset.error().code, Errc::kConfig);
  EXPECT_THAT(unset.error().message, HasSubstr("$CREDENTIALS_DIRECTORY"));
}

TEST_F(SaslCredentialsTest, BadFilesAreConfigErrorsNamingThePath) {
  Result<SaslCredentials> missing = ReadSaslCredentials(dir_.path() + "/none");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, Errc::kConfig);
  EXPECT_THAT(missing.error().message, HasSubstr(dir_.path() + "/none: cannot open: ENOENT"));
  for (const std::string& text :
       {std::string(""), std::string("nocolon\n"), std::string(":password"),
        std::string("u:p\nmore\n"), std::string(5000, 'x')}) {
    Result<SaslCredentials> c = ReadSaslCredentials(Write("bad", text));
    ASSERT_FALSE(c.ok()) << text;
    EXPECT_EQ(c.error().code, Errc::kConfig);
    EXPECT_THAT(c.error().message, HasSubstr(dir_.path() + "/bad"));
    EXPECT_THAT(c.error().message, HasSubstr("user:password"));
  }
  Result<SaslCredentials> secret = ReadSaslCredentials(Write("s", "topsecret\n"));
  ASSERT_FALSE(secret.ok());
  EXPECT_THAT(secret.error().message, Not(HasSubstr("topsecret")));
}

}  // namespace
}  // namespace ttscache
