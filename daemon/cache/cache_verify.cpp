// See cache_verify.hpp. A file is looked at with lstat before it is opened,
// so a FIFO, a device or a symlink put in the folder is judged by its type
// and never opened; a WAV's header is read with pread (never mapped), so a
// file truncated meanwhile is a short read, not SIGBUS.
#include "daemon/cache/cache_verify.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

#include "core/audio/wav_reader.hpp"
#include "core/unique_fd.hpp"
#include "daemon/cache/cache_directory.hpp"

namespace ttscache::verify {
namespace {

constexpr size_t kHeaderBytes = 64 * 1024;
constexpr uint32_t kStreamingSize = 0xFFFFFFFF;

uint32_t Le32(const uint8_t* p) {
  return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
}

void PutLe32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

const char* TypeName(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a pipe";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISLNK(mode)) return "a symbolic link";
  return "not a regular file";
}

Result<size_t> ReadAt(int fd, uint8_t* out, size_t size, uint64_t offset) {
  size_t done = 0;
  while (done < size) {
    ssize_t n = ::pread(fd, out + done, size - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError(errno, "read");
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  return done;
}

Status BadWav(const std::string& message) { return MakeError(Errc::kBadAudio, message); }

Status CheckParsed(std::span<const uint8_t> bytes) {
  Result<WavView> wav = ParseWav(bytes);
  if (!wav) return wav.error();
  if (wav->frames == 0) return BadWav("no samples");
  return {};
}

}  // namespace

Status CheckWavHeader(int fd, uint64_t file_size) {
  if (file_size == 0) return BadWav("empty file");
  std::vector<uint8_t> head(static_cast<size_t>(std::min<uint64_t>(file_size, kHeaderBytes)));
  Result<size_t> got = ReadAt(fd, head.data(), head.size(), 0);
  if (!got) return got.error();
  if (*got < head.size()) {
    return BadWav("file is shorter than its size: read " + std::to_string(*got) + " of " +
                  std::to_string(head.size()) + " bytes");
  }
  if (file_size <= kHeaderBytes) return CheckParsed(head);
  // Larger: find fmt and data in what was read, hand the parser the header
  // with an empty data chunk, and check the declared data size ourselves.
  if (head.size() < 12) return CheckParsed(head);     // not RIFF: let the parser say so
  std::optional<std::pair<size_t, size_t>> fmt;       // chunk start, chunk bytes incl. header
  std::optional<std::pair<uint64_t, uint32_t>> data;  // body offset, declared size
  for (size_t pos = 12; pos + 8 <= head.size() && !(fmt && data);) {
    const uint32_t size = Le32(&head[pos + 4]);
    if (std::memcmp(&head[pos], "data", 4) == 0) {
      data = {pos + 8, size};
    } else if (std::memcmp(&head[pos], "fmt ", 4) == 0 && pos + 8 + uint64_t{size} <= head.size()) {
      fmt = {pos, 8 + size};
    }
    if (std::memcmp(&head[pos], "data", 4) == 0 && (size == 0 || size == kStreamingSize)) break;
    pos += 8 + uint64_t{size} + (size & 1);
  }
  if (!fmt || !data) {
    // An unusual chunk order (fmt after a large chunk): read it all.
    std::vector<uint8_t> all(static_cast<size_t>(file_size));
    Result<size_t> all_got = ReadAt(fd, all.data(), all.size(), 0);
    if (!all_got) return all_got.error();
    all.resize(*all_got);
    return CheckParsed(all);
  }
  std::vector<uint8_t> header(head.begin(), head.begin() + 12);
  PutLe32(&header[4], 0);  // RIFF size: "to the end"
  header.insert(header.end(), head.begin() + static_cast<ptrdiff_t>(fmt->first),
                head.begin() + static_cast<ptrdiff_t>(fmt->first + fmt->second));
  if (fmt->second & 1) header.push_back(0);
  const uint8_t empty_data[8] = {'d', 'a', 't', 'a', 0, 0, 0, 0};
  header.insert(header.end(), empty_data, empty_data + 8);
  Result<WavView> parsed = ParseWav(header);
  if (!parsed) return parsed.error();
  const uint64_t present = file_size - data->first;
  uint64_t length = data->second;
  if (length == 0 || length == kStreamingSize) {
    length = present;
  } else if (length > present) {
    return BadWav("truncated data chunk: header says " + std::to_string(length) + " bytes, " +
                  std::to_string(present) + " present");
  }
  const uint64_t frame_bytes = static_cast<uint64_t>(parsed->format.bytes_per_frame());
  if (length % frame_bytes != 0) {
    return BadWav("data chunk of " + std::to_string(length) + " bytes is not a whole number of " +
                  std::to_string(frame_bytes) + "-byte frames: the audio is truncated");
  }
  if (length == 0) return BadWav("no samples");
  return {};
}

Result<std::optional<Problem>> CheckIndexedFile(int dir_fd, const std::string& name,
                                                uint64_t indexed_size, uid_t owner, bool wav) {
  using Found = std::optional<Problem>;
  if (dir_fd < 0) {
    return Found(
        Problem{wav ? kMissingFile : kMissingVariant, "the index names it; its folder is gone"});
  }
  struct stat st;
  if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) {
      return Found(Problem{wav ? kMissingFile : kMissingVariant, "the index names it; it is gone"});
    }
    return ErrnoError(errno, "stat " + name);
  }
  if (!S_ISREG(st.st_mode)) {
    return Found(Problem{kNotRegular, std::string("is ") + TypeName(st.st_mode)});
  }
  if (st.st_uid != owner) {
    return Found(Problem{kWrongOwner, "owned by uid " + std::to_string(st.st_uid) + ", expected " +
                                          std::to_string(owner)});
  }
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size != indexed_size) {
    return Found(
        Problem{wav ? kSizeMismatch : kVariantSizeMismatch,
                std::to_string(size) + " bytes, the index says " + std::to_string(indexed_size)});
  }
  if (!wav) return Found();
  UniqueFd fd(::openat(dir_fd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno == ENOENT) return Found(Problem{kMissingFile, "the index names it; it is gone"});
    return ErrnoError(errno, "open " + name);
  }
  if (Status header = CheckWavHeader(fd.get(), size); !header) {
    if (header.error().code != Errc::kBadAudio) return header.error();
    return Found(Problem{kBadWav, header.error().message});
  }
  return Found();
}

ClassifiedName ClassifyName(const std::string& name) {
  ClassifiedName c;
  if (name.starts_with(kTempPrefix)) {
    c.kind = NameKind::kTemporary;
    return c;
  }
  const bool hex_name = name.size() > 64 && ParseCacheKeyHex(name.substr(0, 64), &c.key);
  if (hex_name && name.size() == 68 && name.ends_with(".wav")) {
    c.kind = NameKind::kWav;
  } else if (hex_name && name[64] == '.' && name.size() > 70 && name.ends_with(".opus") &&
             ParseVariantTag(std::string_view(name).substr(65, name.size() - 70), &c.params)) {
    c.kind = NameKind::kVariant;
  }
  return c;
}

Result<std::vector<FolderFile>> ListFolder(int dir_fd, const std::string& shown) {
  int fd = ::openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoError(errno, "open folder " + shown);
  DIR* dir = ::fdopendir(fd);
  if (!dir) {
    const int err = errno;
    ::close(fd);
    return ErrnoError(err, "read folder " + shown);
  }
  std::vector<FolderFile> files;
  errno = 0;
  while (dirent* e = ::readdir(dir)) {
    if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
    FolderFile f;
    f.name = e->d_name;
    if (::fstatat(::dirfd(dir), e->d_name, &f.st, AT_SYMLINK_NOFOLLOW) == 0) {
      files.push_back(std::move(f));
    }
  }
  ::closedir(dir);
  return files;
}

Result<std::optional<VerifyFinding>> ExamineFolderFile(
    int dir_fd, const std::string& folder, bool engine_folder, const FolderFile& file, uid_t owner,
    uint64_t temporary_age_s, const std::function<Indexed(const ClassifiedName&)>& indexed) {
  using Found = std::optional<VerifyFinding>;
  if (engine_folder && S_ISDIR(file.st.st_mode) && IsValidVoiceName(file.name)) return Found();
  const ClassifiedName name = ClassifyName(file.name);
  const std::string path = folder + "/" + file.name;
  const bool ours = S_ISREG(file.st.st_mode) && file.st.st_uid == owner;
  switch (name.kind) {
    case NameKind::kTemporary: {
      // ctime, not mtime: an adoption sets its copy's mtime to the old
      // cache's time just before publishing it.
      const uint64_t changed = static_cast<uint64_t>(file.st.st_ctim.tv_sec);
      const uint64_t now = static_cast<uint64_t>(::time(nullptr));
      if (temporary_age_s != 0 && changed + temporary_age_s > now) return Found();
      return Found(VerifyFinding{kTemporary, path, "left by an interrupted write"});
    }
    case NameKind::kWav: {
      // An indexed name is checked through the index (its entry's finding).
      const Indexed answer = indexed(name);
      if (answer == Indexed::kYes) return Found();
      if (!ours) break;  // not a file the daemon wrote: unknown
      UniqueFd fd(
          ::openat(dir_fd, file.name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
      if (!fd.valid()) {
        if (errno == ENOENT) return Found();
        return ErrnoError(errno, "open " + path);
      }
      if (Status header = CheckWavHeader(fd.get(), static_cast<uint64_t>(file.st.st_size));
          !header) {
        if (header.error().code != Errc::kBadAudio) return header.error();
        return Found(VerifyFinding{kBadWav, path, "not indexed, and " + header.error().message});
      }
      if (answer == Indexed::kNoIndex) return Found();
      return Found(VerifyFinding{
          kNotIndexed, path,
          "a sound WAV of " + std::to_string(file.st.st_size) + " bytes the index lacks"});
    }
    case NameKind::kVariant:
      if (indexed(name) != Indexed::kNo) return Found();
      if (!ours) break;
      return Found(VerifyFinding{kOrphanVariant, path, "a variant of no cached entry"});
    case NameKind::kUnknown:
      break;
  }
  return Found(VerifyFinding{kUnknown, path,
                             std::string("not the cache's (") +
                                 (S_ISREG(file.st.st_mode) ? "a file" : TypeName(file.st.st_mode)) +
                                 (S_ISREG(file.st.st_mode) && file.st.st_uid != owner
                                      ? " of uid " + std::to_string(file.st.st_uid)
                                      : std::string()) +
                                 "): left alone",
                             false});
}

VerifyVerdict VerdictOf(const std::vector<VerifyFinding>& findings) {
  bool damage = false;
  for (const VerifyFinding& f : findings) {
    if (!f.damage) continue;
    if (!f.repaired) return VerifyVerdict::kDamaged;
    damage = true;
  }
  return damage ? VerifyVerdict::kRepaired : VerifyVerdict::kClean;
}

}  // namespace ttscache::verify
