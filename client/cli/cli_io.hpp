// File plumbing for the ttscache CLI: read an input ("-" is stdin), and write
// an output: a regular file (or a new path) atomically, through a temporary
// renamed into place so a failed command leaves no partial file; a symlink's
// target, keeping the link; a device, FIFO or socket by writing through it,
// never replacing it. Binary output to a terminal is refused.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/result.hpp"

namespace ttscache::cli {

Result<std::vector<uint8_t>> ReadInput(const std::string& path);

// Writes `bytes` to `path` as above, or to stdout for "-" (refused when
// stdout is a terminal: "use -o FILE").
Status WriteOutput(const std::string& path, std::span<const uint8_t> bytes);

// True when `path` ("-" = stdout) names a terminal.
bool IsTerminalOutput(const std::string& path);

}  // namespace ttscache::cli
