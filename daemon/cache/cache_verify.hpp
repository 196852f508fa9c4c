// The checks behind Verify, shared by CacheStore::Verify (a running daemon's
// cache, cache_verify_online.cpp) and VerifyCacheDirectory (a stopped one,
// cache_verify_offline.cpp): what one file must be to be the file an entry
// names, how a name in a folder is read, the finding kinds (stable: docs/cli.md
// lists them) and the verdict. Pure checks: nothing here writes. Not a public
// interface. Thread-safe (system calls on descriptors the caller owns).
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/audio/opus_params.hpp"
#include "core/cachekey/cache_key.hpp"
#include "core/result.hpp"
#include "daemon/cache/cache_store.hpp"

namespace ttscache::verify {

// Findings about an indexed entry's files.
inline constexpr const char* kMissingFile = "missing-file";
inline constexpr const char* kNotRegular = "not-regular";
inline constexpr const char* kWrongOwner = "wrong-owner";
inline constexpr const char* kSizeMismatch = "size-mismatch";
inline constexpr const char* kBadWav = "bad-wav";
inline constexpr const char* kMissingVariant = "missing-variant";
inline constexpr const char* kVariantSizeMismatch = "variant-size-mismatch";
// Findings about files in the folder.
inline constexpr const char* kNotIndexed = "not-indexed";
inline constexpr const char* kTemporary = "temporary";
inline constexpr const char* kOrphanVariant = "orphan-variant";
inline constexpr const char* kUnknown = "unknown";  // a remark
// Findings about the index file (offline only).
inline constexpr const char* kIndexMissing = "index-missing";
inline constexpr const char* kIndexUnclean = "index-unclean";
inline constexpr const char* kIndexChecksum = "index-checksum";
inline constexpr const char* kIndexLayout = "index-layout";
inline constexpr const char* kIndexVersion = "index-version";

// What is wrong with one file: a kind above and a sentence.
struct Problem {
  std::string kind, detail;
};

// Checks the file `name` in `dir_fd` is what the index says: a regular file
// (not followed if a symlink), owned by `owner`, of `indexed_size` bytes, and
// for a WAV (`wav`) a header that parses with a data chunk that fits.
// `dir_fd` -1: the folder does not exist (the file is missing). nullopt: sound. Errors (EMFILE,
// EIO...) are problems of kind kBadWav only when the file itself is unreadable; a shortage is
// returned as an Error.
Result<std::optional<Problem>> CheckIndexedFile(int dir_fd, const std::string& name,
                                                uint64_t indexed_size, uid_t owner, bool wav);

// Reads at most the first 64 KiB of the WAV open as `fd` (of `file_size`
// bytes) with pread — the samples are never read — and checks them with
// core/audio's parser, and that the data chunk's declared size fits the file
// and holds whole frames, at least one. A file whose fmt chunk lies past the
// first 64 KiB is read whole. kBadAudio says what is wrong; kIo a failed read.
Status CheckWavHeader(int fd, uint64_t file_size);

// How a name in an engine (or voice) folder reads.
enum class NameKind { kWav, kVariant, kTemporary, kUnknown };
struct ClassifiedName {
  NameKind kind = NameKind::kUnknown;
  CacheKey key;       // kWav, kVariant
  OpusParams params;  // kVariant
};
ClassifiedName ClassifyName(const std::string& name);

// A folder's entries with lstat's view of each (a name that vanished between
// readdir and the stat is left out). `shown`: the folder, for messages.
struct FolderFile {
  std::string name;
  struct stat st;
};
Result<std::vector<FolderFile>> ListFolder(int dir_fd, const std::string& shown);

// Whether the index holds a folder file's entry (a WAV) or variant.
// kNoIndex: no usable index (offline, before a rebuild) — a sound WAV is
// then no finding (the rebuild adopts it), and a variant is an orphan only
// when no WAV of its key is in the folder (the caller answers kNo then).
enum class Indexed { kYes, kNo, kNoIndex };

// Judges one file of an engine (or voice) folder, `folder` being its path
// relative to the cache dir (`engine_folder`: an engine's own, where voice
// subfolders live): nullopt when it is fine (a voice's subfolder, walked as
// a folder of its own; an indexed file —
// Verify checks those through the index — or a temporary younger than
// `temporary_age_s`, a put's still in flight). `indexed` is asked only of
// WAV and variant names. A file that vanished meanwhile is fine.
Result<std::optional<VerifyFinding>> ExamineFolderFile(
    int dir_fd, const std::string& folder, bool engine_folder, const FolderFile& file, uid_t owner,
    uint64_t temporary_age_s, const std::function<Indexed(const ClassifiedName&)>& indexed);

// clean: no damage; repaired: every damage finding repaired; else damaged.
VerifyVerdict VerdictOf(const std::vector<VerifyFinding>& findings);

}  // namespace ttscache::verify
