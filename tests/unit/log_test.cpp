// core/log: the "<N>" priority prefix is written only when stderr is the
// journal (JOURNAL_STREAM names stderr's device and inode); on a pipe
// without it, lines are plain with "error: "/"warning: " levels.
#include "core/log.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <optional>
#include <string>

namespace ttscache::log {
namespace {

// Runs `write` with stderr on a pipe and JOURNAL_STREAM set by `journal`
// (given the pipe's "dev:ino"; nullopt unsets it); returns what was written.
template <class Journal, class Writer>
std::string CaptureStderr(Journal journal, Writer write) {
  int fds[2];
  EXPECT_EQ(::pipe(fds), 0);
  const int saved = ::dup(STDERR_FILENO);
  ::dup2(fds[1], STDERR_FILENO);
  ::close(fds[1]);
  struct stat st;
  ::fstat(STDERR_FILENO, &st);
  const char* old = std::getenv("JOURNAL_STREAM");
  const std::string old_value = old ? old : "";
  const std::string stream = std::to_string(static_cast<unsigned long long>(st.st_dev)) + ":" +
                             std::to_string(static_cast<unsigned long long>(st.st_ino));
  if (auto value = journal(stream)) {
    ::setenv("JOURNAL_STREAM", value->c_str(), 1);
  } else {
    ::unsetenv("JOURNAL_STREAM");
  }
  DetectJournal();
  write();
  ::dup2(saved, STDERR_FILENO);
  ::close(saved);
  if (old) {
    ::setenv("JOURNAL_STREAM", old_value.c_str(), 1);
  } else {
    ::unsetenv("JOURNAL_STREAM");
  }
  DetectJournal();
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof(buf))) > 0;)
    out.append(buf, static_cast<size_t>(n));
  ::close(fds[0]);
  return out;
}

void WriteThree() {
  Error("disk on fire");
  Warning("disk warm");
  Info("listening");
}

TEST(Log, PlainOnAPipeWithoutJournalStream) {
  std::string out =
      CaptureStderr([](const std::string&) { return std::optional<std::string>(); }, WriteThree);
  EXPECT_EQ(out, "error: disk on fire\nwarning: disk warm\nlistening\n");
}

TEST(Log, PrefixesWhenStderrIsTheJournal) {
  std::string out = CaptureStderr(
      [](const std::string& stream) { return std::optional<std::string>(stream); }, WriteThree);
  EXPECT_EQ(out, "<3>disk on fire\n<4>disk warm\n<6>listening\n");
}

TEST(Log, PlainWhenJournalStreamNamesAnotherFile) {
  // As when a service's stderr was redirected after systemd set the variable.
  std::string out = CaptureStderr(
      [](const std::string& stream) { return std::optional<std::string>(stream + "1"); },
      WriteThree);
  EXPECT_EQ(out, "error: disk on fire\nwarning: disk warm\nlistening\n");
  out = CaptureStderr([](const std::string&) { return std::optional<std::string>("garbage"); },
                      WriteThree);
  EXPECT_EQ(out, "error: disk on fire\nwarning: disk warm\nlistening\n");
}

}  // namespace
}  // namespace ttscache::log
