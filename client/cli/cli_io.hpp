// File plumbing for the ttscache CLI: read an input ("-" is stdin), and write
// an output: a regular file (or a new path) atomically, through a temporary
// renamed into place so a failed command leaves no partial file; a symlink's
// target, keeping the link; a device, FIFO or socket by writing through it,
// never replacing it. Binary output to a terminal is refused. OutputFile does
// the same piece by piece, for output that must leave as it is made
// (`encode --stream`); WriteOutput is one OutputFile written at once.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "core/unique_fd.hpp"

namespace ttscache::cli {

Result<std::vector<uint8_t>> ReadInput(const std::string& path);

// Writes `bytes` to `path` as above, or to stdout for "-" (refused when
// stdout is a terminal: "use -o FILE").
Status WriteOutput(const std::string& path, std::span<const uint8_t> bytes);

// An output opened as above: Write sends bytes to the descriptor at once (a
// pipe's reader sees them; a regular file's go to its temporary), Commit
// renames the temporary into place. Destroyed uncommitted, it removes the
// temporary, so a failed command leaves no partial regular file.
class OutputFile {
 public:
  static Result<OutputFile> Open(const std::string& path);
  OutputFile(OutputFile&&) noexcept;
  OutputFile& operator=(OutputFile&&) = delete;
  ~OutputFile();

  Status Write(std::span<const uint8_t> bytes);
  Status Commit();
  const std::string& name() const { return name_; }  // "stdout" or the path

 private:
  OutputFile() = default;
  UniqueFd fd_;
  bool is_stdout_ = false;
  std::string name_;
  std::string temporary_;  // renamed to final_ by Commit; empty when written through
  std::string final_;
};

// Replaces the regular file `path` with `bytes` so that a reader sees the old
// file or the new one, never part of one (a Prometheus textfile collector
// reading while the timer writes): a temporary made in the same directory
// (mkstemp), written, fsync'd, given mode 0644 whatever the umask, renamed
// over `path`, then the directory fsync'd. Any failure leaves the old file
// as it was and removes the temporary; the error names the path and errno.
Status WriteFileAtomically(const std::string& path, std::span<const uint8_t> bytes);

// True when `path` ("-" = stdout) names a terminal.
bool IsTerminalOutput(const std::string& path);

}  // namespace ttscache::cli
