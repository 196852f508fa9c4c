// Helpers shared by the cache store tests that came with voices and the
// operate API (cache_voices_test, cache_operate_test): WAVs with distinct
// bytes per seed, a store over a temp dir, reading what a get serves, and a
// check that the folder (voice subfolders included) and the index agree.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "core/audio/wav_reader.hpp"
#include "daemon/cache/cache_store.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/support/wav_builder.hpp"

namespace ttscache::testing {

// A complete WAV whose bytes depend on `seed` (and whose size on `frames`).
inline std::vector<uint8_t> SeededWav(int seed, size_t frames = 2000) {
  WavSpec spec;
  std::vector<uint8_t> pcm(frames * 2);
  for (size_t i = 0; i < pcm.size(); ++i) pcm[i] = static_cast<uint8_t>(seed * 31 + i * 7);
  return MakeWav(spec, pcm);
}

inline std::vector<uint8_t> ReadAll(const CachedFile& f) {
  std::vector<uint8_t> bytes(f.size);
  EXPECT_EQ(pread(f.fd.get(), bytes.data(), bytes.size(), 0), static_cast<ssize_t>(f.size));
  return bytes;
}

inline std::vector<uint8_t> ReadPath(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

inline CacheOptions StoreOptions(const std::string& dir, uint64_t max_entries = 100,
                                 uint64_t max_bytes = 0) {
  CacheOptions o;
  o.dir = dir;
  o.engines = {"xtts", "piper"};
  o.limits.max_entries = max_entries;
  o.limits.max_bytes = max_bytes;
  o.fsync = false;
  return o;
}

inline std::unique_ptr<CacheStore> OpenCacheStore(const CacheOptions& o) {
  Result<std::unique_ptr<CacheStore>> s = CacheStore::Open(o);
  EXPECT_TRUE(s.ok()) << (s ? "" : s.error().message);
  return s ? std::move(*s) : nullptr;
}

// The bytes a get serves; empty on a miss or an error.
inline std::vector<uint8_t> Served(CacheStore& s, const std::string& engine,
                                   const std::string& text) {
  Result<std::optional<CachedFile>> r = s.Get(engine, text);
  if (!r.ok() || !r->has_value()) return {};
  return ReadAll(**r);
}

// The folder and the index agree, voice subfolders included: per engine,
// the WAVs (complete, no temporary left) and the bytes of all files in its
// folder and its voices' subfolders are what Stats counts.
inline void ExpectLayoutMatchesIndex(const std::string& dir, CacheStore& store) {
  namespace fs = std::filesystem;
  CacheStats stats = store.Stats();
  for (const auto& [engine, counters] : stats.engines) {
    uint64_t wavs = 0, bytes = 0;
    for (const auto& f : fs::recursive_directory_iterator(dir + "/" + engine)) {
      if (f.is_directory()) continue;
      const std::string name = f.path().filename();
      EXPECT_FALSE(name.starts_with(".tmp-")) << "temporary left: " << f.path();
      bytes += f.file_size();
      if (!name.ends_with(".wav")) continue;
      ++wavs;
      EXPECT_TRUE(ParseWav(ReadPath(f.path())).ok()) << f.path() << " is not a complete WAV";
    }
    EXPECT_EQ(wavs, counters.entries) << engine;
    EXPECT_EQ(bytes, counters.bytes) << engine;
  }
}

}  // namespace ttscache::testing
