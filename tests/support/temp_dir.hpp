// Test support: a fresh directory under the test temp dir, removed at the end.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

namespace ttscache::testing {

class TempDir {
 public:
  TempDir() {
    std::string pattern = ::testing::TempDir() + "ttscache-XXXXXX";
    path_ = mkdtemp(pattern.data());
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace ttscache::testing
