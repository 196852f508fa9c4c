// `ttscache adopt DIR`: moves the old Node.js module's cache folder
// (DIR/{engine}/{sha256}.wav, LRU by mtime) into the daemon without losing an
// entry. Each file is opened here, as the invoking user, and its descriptor
// passed to the daemon (PUT_FILE), which copies it into its own store: the
// daemon needs no access to DIR and the copy is its own by construction. The
// file name is the key, so the entry answers `ttscache get --text` exactly as
// the old module did; files go oldest mtime first and carry their mtime, so
// the old LRU order carries over. Voice subfolders in ttscache's layout
// (DIR/{engine}/{voice}/{sha256}.wav, docs/layout.md) are adopted as that
// engine's voice. Before anything is sent the counts are checked against
// the daemon's limits (an engine's max_entries counts all its voices):
// adopting must not make it evict unless --allow-evict says so.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>
#include <set>
#include <thread>

#include "client/cli/commands.hpp"
#include "client/cli/exit_codes.hpp"
#include "core/audio/wav_reader.hpp"
#include "core/cachekey/cache_key.hpp"
#include "core/config/config.hpp"
#include "core/unique_fd.hpp"

namespace ttscache::cli {
namespace {

const char* const kAdoptUsage =
    "usage: ttscache adopt DIR [--engine E]... [--move] [--dry-run] [--allow-evict]\n\n"
    "Copies the old Node.js module's cache folder (DIR/ENGINE/SHA256.wav) into the\n"
    "daemon, oldest first, keeping each entry's key and its LRU age (the file's mtime).\n"
    "Voice subfolders (DIR/ENGINE/VOICE/SHA256.wav) are adopted as ENGINE/VOICE.\n"
    "  --engine E     adopt only this engine's folder (repeatable; default: all)\n"
    "  --move         remove each source file once the daemon has stored it\n"
    "  --dry-run      check and report, send nothing, change nothing\n"
    "  --allow-evict  go on even if the daemon's limits make it evict entries\n"
    "Exit 0: every entry adopted; 5: some were not (listed); 3: nothing was done.\n";

struct Candidate {
  std::string engine, path;
  std::string engine_path;  // "engine" or "engine/voice", as the daemon is asked
  CacheKey key;
  uint64_t size = 0, mtime_ns = 0;
  bool cached = false;  // the daemon holds the key already
};

struct EngineTally {
  uint64_t adopted = 0, bytes = 0, already = 0, evicted = 0, refused = 0, moved = 0;
};

// Problems are printed as they are found, "path: what is wrong".
struct Report {
  uint64_t skipped = 0;      // not an entry of the old module: junk, links, other folders
  uint64_t not_adopted = 0;  // an entry file that did not make it into the daemon
  void Skip(const std::string& path, const std::string& why) {
    std::cerr << "ttscache: adopt: skipped " << path << ": " << why << "\n";
    ++skipped;
  }
  void Refuse(const std::string& path, const std::string& why) {
    std::cerr << "ttscache: adopt: not adopted " << path << ": " << why << "\n";
    ++not_adopted;
  }
};

int64_t MtimeNs(const struct stat& st) {
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
}

// The names in a folder, sorted; an error when it cannot be read.
Result<std::vector<std::string>> ListFolder(int dirfd, const std::string& path) {
  int fd = ::openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoError(errno, "open " + path);
  DIR* dir = ::fdopendir(fd);
  if (!dir) {
    const int err = errno;
    ::close(fd);
    return ErrnoError(err, "read " + path);
  }
  std::vector<std::string> names;
  while (dirent* e = ::readdir(dir)) {
    if (std::string_view(e->d_name) != "." && std::string_view(e->d_name) != "..") {
      names.emplace_back(e->d_name);
    }
  }
  ::closedir(dir);
  std::sort(names.begin(), names.end());
  return names;
}

// Collects the `<64 hex>.wav` regular files of one folder (DIR/{engine} or
// DIR/{engine}/{voice}); in an engine's folder, a subfolder named as a
// voice is collected as that voice's.
void CollectFolder(int dir, const std::string& folder, const std::string& engine,
                   const std::string& voice, std::vector<Candidate>* found, Report* report) {
  Result<std::vector<std::string>> names = ListFolder(dir, folder);
  if (!names) {
    report->Skip(folder, names.error().message);
    return;
  }
  for (const std::string& name : *names) {
    const std::string path = folder + "/" + name;
    Candidate c{engine, path, voice.empty() ? engine : engine + "/" + voice, {}, 0, 0};
    struct stat st;
    const bool entry_name = name.size() == 68 && name.ends_with(".wav") &&
                            ParseCacheKeyHex(std::string_view(name).substr(0, 64), &c.key);
    if (!entry_name && voice.empty() && IsValidVoiceName(name) &&
        ::fstatat(dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode)) {
      UniqueFd sub(::openat(dir, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!sub.valid()) {
        report->Skip(path, ErrnoText(errno));
        continue;
      }
      CollectFolder(sub.get(), path, engine, name, found, report);
      continue;
    }
    if (!entry_name) {
      report->Skip(path, voice.empty() ? "the name is not <64 lowercase hex digits>.wav (not a "
                                         "cache entry) nor a voice's folder"
                                       : "the name is not <64 lowercase hex digits>.wav (not a "
                                         "cache entry)");
      continue;
    }
    if (::fstatat(dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      report->Refuse(path, ErrnoText(errno));
      continue;
    }
    if (!S_ISREG(st.st_mode)) {
      report->Refuse(path, S_ISLNK(st.st_mode) ? "a symbolic link, not the entry's file"
                                               : "not a regular file");
      continue;
    }
    c.size = static_cast<uint64_t>(st.st_size);
    c.mtime_ns = static_cast<uint64_t>(std::max<int64_t>(MtimeNs(st), 1));
    found->push_back(std::move(c));
  }
}

// Walks DIR/{engine}/ (and its voice subfolders) and collects the entries.
Result<std::vector<Candidate>> Collect(const std::string& root, const std::set<std::string>& only,
                                       Report* report) {
  UniqueFd root_fd(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!root_fd.valid()) return ErrnoError(errno, "open " + root);
  Result<std::vector<std::string>> engines = ListFolder(root_fd.get(), root);
  if (!engines) return engines.error();
  std::vector<Candidate> found;
  for (const std::string& engine : *engines) {
    const std::string folder = root + "/" + engine;
    struct stat st;
    if (::fstatat(root_fd.get(), engine.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      report->Skip(folder, ErrnoText(errno));
      continue;
    }
    if (!S_ISDIR(st.st_mode)) {
      report->Skip(folder, "not an engine folder (the old module keeps DIR/ENGINE/SHA256.wav)");
      continue;
    }
    if (!only.empty() && !only.count(engine)) continue;  // not asked for: left alone, unreported
    UniqueFd dir(
        ::openat(root_fd.get(), engine.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!dir.valid()) {
      report->Skip(folder, ErrnoText(errno));
      continue;
    }
    CollectFolder(dir.get(), folder, engine, "", &found, report);
  }
  for (const std::string& engine : only) {
    if (std::find(engines->begin(), engines->end(), engine) == engines->end()) {
      report->Skip(root + "/" + engine, "--engine " + engine + ": no such folder");
    }
  }
  // Oldest first, across engines: the daemon's byte limit is one LRU for all.
  std::stable_sort(found.begin(), found.end(),
                   [](const Candidate& a, const Candidate& b) { return a.mtime_ns < b.mtime_ns; });
  return found;
}

// Opens a candidate for passing: no symlink, no blocking on a FIFO swapped in.
Result<UniqueFd> OpenCandidate(const Candidate& c, struct stat* st) {
  UniqueFd fd(::open(c.path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoError(errno, "open");
  if (::fstat(fd.get(), st) != 0) return ErrnoError(errno, "stat");
  if (!S_ISREG(st->st_mode)) return MakeError(Errc::kInvalidArgument, "not a regular file");
  return fd;
}

// --dry-run: what the daemon would say about the WAV, without it.
Status CheckLocally(int fd, uint64_t size) {
  std::vector<uint8_t> bytes(size);
  size_t done = 0;
  while (done < size) {
    ssize_t n = ::pread(fd, bytes.data() + done, size - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError(errno, "read");
    if (n == 0) return MakeError(Errc::kBadAudio, "shorter than its size");
    done += static_cast<size_t>(n);
  }
  Result<WavView> wav = ParseWav(bytes);
  if (!wav) return MakeError(Errc::kBadAudio, "not a complete WAV: " + wav.error().message);
  if (wav->frames == 0) return MakeError(Errc::kBadAudio, "not a complete WAV: no samples");
  return {};
}

// Removes the source once the daemon has it, if it is still the file sent.
void RemoveSource(const Candidate& c, const struct stat& sent, EngineTally* tally) {
  struct stat now;
  if (::lstat(c.path.c_str(), &now) != 0 || now.st_ino != sent.st_ino ||
      now.st_dev != sent.st_dev) {
    std::cerr << "ttscache: adopt: " << c.path << " changed after it was sent; not removed\n";
    return;
  }
  if (::unlink(c.path.c_str()) != 0) {
    std::cerr << "ttscache: adopt: cannot remove " << c.path << ": " << ErrnoText(errno) << "\n";
    return;
  }
  tally->moved++;
}

std::string JoinNames(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

}  // namespace

int RunAdopt(const std::vector<std::string>& argv, const GlobalOptions& global) {
  Result<ParsedArgs> args =
      ParseArgs(argv, {"--engine"}, {"--move", "--dry-run", "--allow-evict", "--help"});
  if (!args) return UsageError(args.error().message, kAdoptUsage);
  if (args->has("--help")) return (std::cout << kAdoptUsage), kExitOk;
  if (args->positional.size() != 1) return UsageError("adopt takes one DIR", kAdoptUsage);
  if (args->has("--move") && args->has("--dry-run")) {
    return UsageError("--move and --dry-run exclude each other", kAdoptUsage);
  }
  std::set<std::string> only;
  for (const std::string& e : args->every["--engine"]) {
    if (!IsValidEngineName(e)) {
      return UsageError("--engine " + e + ": not an engine name ([a-z0-9][a-z0-9_-]{0,31})",
                        kAdoptUsage);
    }
    only.insert(e);
  }
  const bool dry_run = args->has("--dry-run"), move = args->has("--move");
  std::string root = args->positional[0];
  while (root.size() > 1 && root.back() == '/') root.pop_back();

  Report report;
  Result<std::vector<Candidate>> candidates = Collect(root, only, &report);
  if (!candidates) return Fail("adopt: " + candidates.error().message);

  Result<Client> client = ConnectTo(global);
  if (!client) return ExitFor(client.error());
  Result<ttscache::Stats> stats = client->StatsWithLimits();
  if (!stats) return ExitFor(stats.error());
  if (!stats->has_limits) {
    return Fail("adopt: the daemon does not report its limits (older than this ttscache?)");
  }
  std::vector<std::string> served;
  std::map<std::string, const ttscache::EngineStats*> daemon_engine;
  uint64_t daemon_bytes = 0;
  for (const ttscache::EngineStats& e : stats->engines) {
    served.push_back(e.name);
    daemon_engine[e.name] = &e;
    daemon_bytes += e.bytes;
  }

  // Engines the daemon does not serve: every file named, none dropped silently.
  std::vector<Candidate> sendable;
  std::map<std::string, std::vector<size_t>> of_engine;
  for (Candidate& c : *candidates) {
    if (!daemon_engine.count(c.engine)) {
      report.Refuse(c.path, "engine \"" + c.engine + "\" is not served by the daemon (it serves: " +
                                JoinNames(served) + "; see [cache] engines)");
      continue;
    }
    of_engine[c.engine_path].push_back(sendable.size());
    sendable.push_back(std::move(c));
  }
  // What the daemon holds already costs it nothing: only new entries count.
  std::map<std::string, uint64_t> count;
  uint64_t total_bytes = 0;
  for (const auto& [engine_path, indexes] : of_engine) {
    std::vector<std::array<uint8_t, 32>> keys;
    for (size_t i : indexes) keys.push_back(sendable[i].key.digest);
    Result<std::vector<bool>> cached = client->HasKeys(engine_path, keys);
    if (!cached) return ExitFor(cached.error());
    for (size_t k = 0; k < indexes.size(); ++k) {
      Candidate& c = sendable[indexes[k]];
      c.cached = (*cached)[k];
      if (!c.cached) {
        count[c.engine]++;  // max_entries is per engine, over all its voices
        total_bytes += c.size;
      }
    }
  }

  // The limits: adopting must not make the daemon evict, unless allowed.
  std::vector<std::string> evictions;
  for (const auto& [engine, n] : count) {
    const uint64_t after = daemon_engine[engine]->entries + n;
    if (after > stats->max_entries) {
      evictions.push_back(engine + ": " + std::to_string(n) + " new to adopt + " +
                          std::to_string(daemon_engine[engine]->entries) +
                          " cached = " + std::to_string(after) + " > max_entries " +
                          std::to_string(stats->max_entries) + ", so " +
                          std::to_string(after - stats->max_entries) +
                          " entries would be evicted; raise [cache] max_entries (or "
                          "TTS_CACHE_MAX) to at least " +
                          std::to_string(after) + " and restart the daemon");
    }
  }
  if (stats->max_bytes != 0 && daemon_bytes + total_bytes > stats->max_bytes) {
    evictions.push_back("all engines: " + std::to_string(total_bytes) + " bytes to adopt + " +
                        std::to_string(daemon_bytes) + " cached > max_bytes " +
                        std::to_string(stats->max_bytes) + ", so about " +
                        std::to_string(daemon_bytes + total_bytes - stats->max_bytes) +
                        " bytes of least recently used entries would be evicted; raise "
                        "[cache] max_bytes to at least " +
                        std::to_string(daemon_bytes + total_bytes));
  }
  if (!evictions.empty() && !args->has("--allow-evict")) {
    for (const std::string& e : evictions) std::cerr << "ttscache: adopt: " << e << "\n";
    return Fail(
        "adopt: refusing: adopting would make the daemon evict entries (listed above); "
        "raise the limit, or pass --allow-evict to adopt anyway (oldest go first). "
        "Nothing was sent.");
  }
  for (const std::string& e : evictions)
    std::cerr << "ttscache: adopt: --allow-evict: " << e << "\n";

  std::map<std::string, EngineTally> tally;
  const auto started = std::chrono::steady_clock::now();
  for (const Candidate& c : sendable) {
    EngineTally& t = tally[c.engine_path];
    struct stat st;
    Result<UniqueFd> fd = OpenCandidate(c, &st);
    if (!fd) {
      report.Refuse(c.path, fd.error().message);
      t.refused++;
      continue;
    }
    if (dry_run && c.cached) {
      t.already++;
      continue;
    }
    if (dry_run) {
      if (Status s = CheckLocally(fd->get(), static_cast<uint64_t>(st.st_size)); !s) {
        report.Refuse(c.path, s.error().message);
        t.refused++;
        continue;
      }
      t.adopted++;
      t.bytes += static_cast<uint64_t>(st.st_size);
      continue;
    }
    Result<ttscache::PutFileResult> put = MakeError(Errc::kBusy, "");
    for (int attempt = 0; attempt < 100; ++attempt) {
      put = client->PutFileByKey(c.engine_path, c.key.digest, fd->get(), c.mtime_ns);
      if (put || put.error().code != Errc::kBusy) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (!put && put.error().code == Errc::kUnavailable) {
      report.Refuse(c.path, put.error().message);
      std::cerr << "ttscache: adopt: lost the daemon; stopping (run again to go on: entries "
                   "already adopted are kept)\n";
      t.refused++;
      break;
    }
    if (!put) {
      report.Refuse(c.path, put.error().message);
      t.refused++;
      continue;
    }
    switch (put->outcome) {
      case ttscache::PutFileOutcome::kStored:
        t.adopted++;
        t.bytes += put->size;
        break;
      case ttscache::PutFileOutcome::kAlreadyCached:
        t.already++;
        break;
      case ttscache::PutFileOutcome::kEvictedAtOnce:
        t.evicted++;
        std::cerr << "ttscache: adopt: " << c.path
                  << ": stored, then evicted at once (older than every entry of a full cache); "
                     "source kept\n";
        continue;
    }
    if (move) RemoveSource(c, st, &t);
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

  uint64_t adopted = 0, adopted_bytes = 0;
  for (const auto& [engine, t] : tally) {
    std::printf(
        "%s %s: %llu adopted (%llu bytes), %llu already cached, %llu evicted at once, "
        "%llu not adopted%s\n",
        dry_run ? "would adopt" : "adopted", engine.c_str(), (unsigned long long)t.adopted,
        (unsigned long long)t.bytes, (unsigned long long)t.already, (unsigned long long)t.evicted,
        (unsigned long long)t.refused,
        move ? (", " + std::to_string(t.moved) + " source files removed").c_str() : "");
    adopted += t.adopted;
    adopted_bytes += t.bytes;
  }
  std::printf(
      "%s %llu entries (%llu bytes) in %.2f s; %llu not adopted, %llu other files "
      "skipped%s\n",
      dry_run ? "dry run: would adopt" : "adopted", (unsigned long long)adopted,
      (unsigned long long)adopted_bytes, seconds, (unsigned long long)report.not_adopted,
      (unsigned long long)report.skipped,
      report.not_adopted + report.skipped ? " (reasons above, on stderr)" : "");
  return report.not_adopted ? kExitPartial : kExitOk;
}

}  // namespace ttscache::cli
