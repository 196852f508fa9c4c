// WriteAll: write(2) until every byte is out, retrying EINTR and short
// writes; the error names `what` (a path or "stdout").
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "core/result.hpp"

namespace ttscache {

Status WriteAll(int fd, std::span<const uint8_t> bytes, const std::string& what);

}  // namespace ttscache
