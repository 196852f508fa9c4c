// The fleet tier's SASL credentials: a file holding "user:password" (one
// line; a trailing newline is allowed), named by [tier] sasl_credentials. A
// relative name is under $CREDENTIALS_DIRECTORY, where systemd's
// LoadCredential= puts it, so the secret never sits in the config file or
// the environment. Read once at start. Thread-safe (no shared state).
#pragma once

#include <string>
#include <string_view>

#include "core/config/config.hpp"
#include "core/result.hpp"

namespace ttscache {

struct SaslCredentials {
  std::string user, password;
};

// kConfig naming the path and what was wrong: $CREDENTIALS_DIRECTORY unset
// for a relative name, the file unreadable (errno by name), empty, over 4 KiB,
// or not "user:password" with a non-empty user (no ':' in it) and no control
// bytes. `env` null: getenv.
Result<SaslCredentials> ReadSaslCredentials(std::string_view name, const EnvLookup& env = {});

}  // namespace ttscache
