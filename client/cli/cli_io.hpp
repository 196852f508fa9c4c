// File plumbing for the ttscache CLI: read an input ("-" is stdin), and write
// an output atomically (a temporary file renamed into place, so a failed
// command leaves no partial file), refusing binary output to a terminal.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/result.hpp"

namespace ttscache::cli {

Result<std::vector<uint8_t>> ReadInput(const std::string& path);

// Writes `bytes` to `path`, or to stdout for "-" (refused when stdout is a
// terminal: "use -o FILE").
Status WriteOutput(const std::string& path, std::span<const uint8_t> bytes);

// True when `path` ("-" = stdout) names a terminal.
bool IsTerminalOutput(const std::string& path);

}  // namespace ttscache::cli
