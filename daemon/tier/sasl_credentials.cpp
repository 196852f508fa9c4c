// Reading [tier] sasl_credentials (sasl_credentials.hpp). The file's
// contents never go into a message: only its path and what was expected.
#include "daemon/tier/sasl_credentials.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include "core/unique_fd.hpp"

namespace ttscache {
namespace {

constexpr size_t kMaxCredentialsBytes = 4096;

Error Bad(const std::string& path, const std::string& what) {
  return MakeError(Errc::kConfig, "[tier] sasl_credentials " + path + ": " + what);
}

}  // namespace

Result<SaslCredentials> ReadSaslCredentials(std::string_view name, const EnvLookup& env) {
  std::string path(name);
  if (path.empty()) return Bad("\"\"", "empty file name");
  if (path[0] != '/') {
    const char* dir = env ? env("CREDENTIALS_DIRECTORY") : std::getenv("CREDENTIALS_DIRECTORY");
    if (dir == nullptr || *dir == '\0') {
      return Bad(path,
                 "a relative name is read from $CREDENTIALS_DIRECTORY (systemd LoadCredential=), "
                 "which is not set; give an absolute path or start under systemd");
    }
    path = std::string(dir) + "/" + path;
  }
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
  if (fd.get() < 0) {
    const int err = errno;
    Error e = Bad(path, "cannot open: " + ErrnoText(err));
    e.sys_errno = err;
    return e;
  }
  std::string text;
  char buf[1024];
  for (;;) {
    const ssize_t n = read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Bad(path, "cannot read: " + ErrnoText(errno));
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
    if (text.size() > kMaxCredentialsBytes) {
      return Bad(path, "larger than 4 KiB, expected one line \"user:password\"");
    }
  }
  if (!text.empty() && text.back() == '\n') text.pop_back();
  if (!text.empty() && text.back() == '\r') text.pop_back();
  for (char ch : text) {
    if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7F) {
      return Bad(path, "holds a control byte or more than one line, expected \"user:password\"");
    }
  }
  const size_t colon = text.find(':');
  if (colon == std::string::npos || colon == 0) {
    return Bad(path, "expected \"user:password\" (a non-empty user, then ':')");
  }
  return SaslCredentials{text.substr(0, colon), text.substr(colon + 1)};
}

}  // namespace ttscache
