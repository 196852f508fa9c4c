// Verify, online (CacheStore::Verify) and offline (VerifyCacheDirectory):
// each kind of damage, made by hand, is reported with its kind and path;
// without repair nothing changes; a repair fixes what it can, a second look
// is clean, and every sound entry is still served with its bytes.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>
#include <algorithm>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include "core/unique_fd.hpp"
#include "daemon/cache/cache_directory.hpp"
#include "daemon/cache/cache_store.hpp"
#include "daemon/cache/cache_verify.hpp"
#include "daemon/cache/index_layout.hpp"
#include "daemon/verify_command.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/support/wav_builder.hpp"
#include "tests/unit/cache_test_support.hpp"

namespace ttscache {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

std::vector<uint8_t> Served(CacheStore& s, const std::string& engine, const std::string& text) {
  Result<std::optional<CachedFile>> r = s.Get(engine, text);
  if (!r.ok() || !r->has_value()) return {};
  Result<std::vector<uint8_t>> bytes = ReadCachedFile(**r);
  return bytes ? *bytes : std::vector<uint8_t>{};
}

std::string Hex(const std::string& text) { return ComputeCacheKey(text)->hex(); }

void WriteFile(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc)
      .write(reinterpret_cast<const char*>(bytes.data()),
             static_cast<std::streamsize>(bytes.size()));
}

std::vector<uint8_t> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// kind → paths found with it.
std::multimap<std::string, std::string> Kinds(const VerifyReport& r) {
  std::multimap<std::string, std::string> kinds;
  for (const VerifyFinding& f : r.findings) kinds.emplace(f.kind, f.path);
  return kinds;
}

bool Found(const VerifyReport& r, const std::string& kind, const std::string& path) {
  for (const VerifyFinding& f : r.findings) {
    if (f.kind == kind && f.path == path) return true;
  }
  return false;
}

std::string Describe(const VerifyReport& r) { return FormatVerifyReport(r, false); }

// A cache with sound entries ("keep N", one with a variant) and one entry
// per kind of damage to come. Returns the texts of the sound entries.
class DamagedCache : public ::testing::Test {
 protected:
  void SetUp() override {
    options_ = testing::StoreOptions(tmp_.path() + "/cache");
    store_ = testing::OpenCacheStore(options_);
    ASSERT_TRUE(store_);
    for (int i = 0; i < 4; ++i) Put("xtts", "keep " + std::to_string(i), testing::SeededWav(i));
    Put("piper", "keep piper", testing::SeededWav(9));
    for (const char* t : {"garbage", "gone", "foreign", "fifo", "resized", "overlong"}) {
      Put("xtts", t, testing::SeededWav(t[0], std::string(t) == "overlong" ? 100000 : 2000));
    }
    for (const char* t : {"keep 0", "variant gone", "variant resized"}) {
      if (std::string(t) != "keep 0") Put("xtts", t, testing::SeededWav(t[0]));
      Result<VariantLookup> v = store_->GetVariant("xtts", t, params_);
      ASSERT_TRUE(v.ok());
      ASSERT_TRUE(
          store_->PutVariant("xtts", t, v->generation, params_, std::vector<uint8_t>(300, 7)).ok());
    }
  }
  void Put(const std::string& engine, const std::string& text, const std::vector<uint8_t>& wav) {
    ASSERT_TRUE(store_->Put(engine, text, wav).ok());
    sound_[engine + "|" + text] = wav;
  }
  std::string Path(const std::string& rel) const { return options_.dir + "/" + rel; }
  std::string WavRel(const std::string& text, const std::string& engine = "xtts") const {
    return engine + "/" + Hex(text) + ".wav";
  }
  std::string VariantRel(const std::string& text) const {
    return "xtts/" + Hex(text) + "." + VariantTag(params_) + ".opus";
  }

  // Damages every entry not named "keep …", and adds files of each kind.
  void Damage() {
    std::vector<uint8_t> garbage = ReadFile(Path(WavRel("garbage")));
    std::fill(garbage.begin(), garbage.begin() + 44, 'x');  // same size, no RIFF header
    WriteFile(Path(WavRel("garbage")), garbage);
    fs::remove(Path(WavRel("gone")));
    ASSERT_EQ(chown(Path(WavRel("foreign")).c_str(), 12345, 12345), 0);
    fs::remove(Path(WavRel("fifo")));
    ASSERT_EQ(mkfifo(Path(WavRel("fifo")).c_str(), 0640), 0);
    fs::resize_file(Path(WavRel("resized")), fs::file_size(Path(WavRel("resized"))) / 2);
    // A large WAV (past the 64 KiB read) whose data chunk claims more than is there.
    std::vector<uint8_t> overlong = ReadFile(Path(WavRel("overlong")));
    overlong[40] = 0xF0;  // the data chunk's size (canonical 44-byte header)
    overlong[41] = 0xFF;
    overlong[42] = 0xFF;
    overlong[43] = 0x0F;
    WriteFile(Path(WavRel("overlong")), overlong);
    fs::remove(Path(VariantRel("variant gone")));
    {
      std::ofstream grow(Path(VariantRel("variant resized")), std::ios::binary | std::ios::app);
      grow << "more";
    }
    // Files the index does not name.
    WriteFile(Path(WavRel("not indexed")), testing::SeededWav(77));
    WriteFile(Path(WavRel("not indexed, bad")), std::vector<uint8_t>(500, 'z'));
    WriteFile(Path(VariantRel("no such entry")), std::vector<uint8_t>(10, 1));
    WriteFile(Path("xtts/notes.txt"), std::vector<uint8_t>(3, 'n'));
    WriteFile(Path(std::string("piper/") + kTempPrefix + "leftover"), std::vector<uint8_t>(9, 0));
  }

  // The damage Damage() did, as Verify must report it (online: no temporary).
  void ExpectReported(const VerifyReport& r, bool offline) {
    const std::string all = Describe(r);
    EXPECT_TRUE(Found(r, "bad-wav", WavRel("garbage"))) << all;
    EXPECT_TRUE(Found(r, "missing-file", WavRel("gone"))) << all;
    EXPECT_TRUE(Found(r, "wrong-owner", WavRel("foreign"))) << all;
    EXPECT_TRUE(Found(r, "not-regular", WavRel("fifo"))) << all;
    EXPECT_TRUE(Found(r, "size-mismatch", WavRel("resized"))) << all;
    EXPECT_TRUE(Found(r, "bad-wav", WavRel("overlong"))) << all;
    EXPECT_TRUE(Found(r, "missing-variant", VariantRel("variant gone"))) << all;
    EXPECT_TRUE(Found(r, "variant-size-mismatch", VariantRel("variant resized"))) << all;
    EXPECT_TRUE(Found(r, "not-indexed", WavRel("not indexed"))) << all;
    EXPECT_TRUE(Found(r, "bad-wav", WavRel("not indexed, bad"))) << all;
    EXPECT_TRUE(Found(r, "orphan-variant", VariantRel("no such entry"))) << all;
    EXPECT_TRUE(Found(r, "unknown", "xtts/notes.txt")) << all;
    EXPECT_EQ(Found(r, "temporary", std::string("piper/") + kTempPrefix + "leftover"), offline)
        << "online, a fresh temporary may be a put's in flight\n"
        << all;
    EXPECT_EQ(r.findings.size(), offline ? 13u : 12u) << all;
    for (const VerifyFinding& f : r.findings) {
      EXPECT_EQ(f.damage, f.kind != "unknown") << f.kind;
      EXPECT_FALSE(f.detail.empty()) << f.kind;
    }
  }

  // After a repair: every sound entry served with its bytes, the adopted one too.
  void ExpectSoundEntriesServed(CacheStore& store) {
    for (std::string t : {"keep 0", "keep 1", "keep 2", "keep 3"}) {
      EXPECT_EQ(Served(store, "xtts", t), sound_["xtts|" + t]) << t;
    }
    EXPECT_EQ(Served(store, "piper", "keep piper"), sound_["piper|keep piper"]);
    EXPECT_EQ(Served(store, "xtts", "not indexed"), testing::SeededWav(77)) << "adopted";
    Result<VariantLookup> v = store.GetVariant("xtts", "keep 0", params_);
    ASSERT_TRUE(v.ok());
    EXPECT_TRUE(v->variant.has_value()) << "a sound variant stays";
    for (std::string t : {"garbage", "gone", "foreign", "fifo", "resized", "overlong"}) {
      EXPECT_TRUE(Served(store, "xtts", t).empty()) << t << " was dropped";
    }
    EXPECT_FALSE(fs::exists(Path(WavRel("garbage"))));
    EXPECT_FALSE(fs::exists(Path(WavRel("not indexed, bad"))));
    EXPECT_FALSE(fs::exists(Path(VariantRel("no such entry"))));
    EXPECT_TRUE(fs::exists(Path("xtts/notes.txt"))) << "an unknown file is never removed";
  }

  testing::TempDir tmp_;
  CacheOptions options_;
  OpusParams params_;
  std::unique_ptr<CacheStore> store_;
  std::map<std::string, std::vector<uint8_t>> sound_;
};

TEST_F(DamagedCache, OnlineVerifyReportsEachKindAndRepairs) {
  Result<VerifyReport> clean = store_->Verify(false);
  ASSERT_TRUE(clean.ok()) << clean.error().message;
  EXPECT_EQ(clean->verdict, VerifyVerdict::kClean) << Describe(*clean);
  EXPECT_EQ(clean->entries_checked, 13u);
  EXPECT_EQ(clean->files_checked, 13u * 2 + 3 * 2) << "each file through the index and the folder";

  Damage();
  Result<VerifyReport> found = store_->Verify(false);
  ASSERT_TRUE(found.ok()) << found.error().message;
  EXPECT_EQ(found->verdict, VerifyVerdict::kDamaged);
  ExpectReported(*found, false);
  // Without repair nothing changed.
  EXPECT_TRUE(fs::exists(Path(WavRel("not indexed, bad"))));
  EXPECT_TRUE(fs::exists(Path(VariantRel("no such entry"))));
  Result<VerifyReport> again = store_->Verify(false);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(Kinds(*again), Kinds(*found)) << "a second look sees the same";

  Result<VerifyReport> repaired = store_->Verify(true);
  ASSERT_TRUE(repaired.ok()) << repaired.error().message;
  EXPECT_EQ(repaired->verdict, VerifyVerdict::kRepaired) << Describe(*repaired);
  ExpectReported(*repaired, false);
  for (const VerifyFinding& f : repaired->findings) EXPECT_EQ(f.repaired, f.damage) << f.kind;

  Result<VerifyReport> after = store_->Verify(false);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->verdict, VerifyVerdict::kClean) << Describe(*after);
  ExpectSoundEntriesServed(*store_);
  fs::remove(Path(WavRel("fifo")));  // the FIFO is not the cache's any more: unknown
}

TEST_F(DamagedCache, OfflineVerifyReportsWithoutWritingAndRepairs) {
  ASSERT_TRUE(store_->Close().ok());
  store_.reset();
  Result<VerifyReport> clean = VerifyCacheDirectory(options_, false);
  ASSERT_TRUE(clean.ok()) << clean.error().message;
  EXPECT_EQ(clean->verdict, VerifyVerdict::kClean) << Describe(*clean);

  Damage();
  const std::vector<uint8_t> index_before = ReadFile(Path(kIndexFileName));
  Result<VerifyReport> found = VerifyCacheDirectory(options_, false);
  ASSERT_TRUE(found.ok()) << found.error().message;
  EXPECT_EQ(found->verdict, VerifyVerdict::kDamaged);
  ExpectReported(*found, true);
  EXPECT_EQ(ReadFile(Path(kIndexFileName)), index_before) << "without --repair nothing is written";
  EXPECT_TRUE(fs::exists(Path(std::string("piper/") + kTempPrefix + "leftover")));

  Result<VerifyReport> repaired = VerifyCacheDirectory(options_, true);
  ASSERT_TRUE(repaired.ok()) << repaired.error().message;
  EXPECT_EQ(repaired->verdict, VerifyVerdict::kRepaired) << Describe(*repaired);
  ExpectReported(*repaired, true);
  Result<VerifyReport> after = VerifyCacheDirectory(options_, false);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->verdict, VerifyVerdict::kClean) << Describe(*after);
  fs::remove(Path(WavRel("fifo")));
  store_ = testing::OpenCacheStore(options_);
  ASSERT_TRUE(store_);
  EXPECT_TRUE(store_->open_report().rebuild_reason.empty())
      << "the repair closed the index cleanly";
  ExpectSoundEntriesServed(*store_);
}

// Writes `bytes` at `offset` of the index file.
void PatchIndex(const std::string& dir, off_t offset, const void* bytes, size_t size) {
  int fd = open((dir + "/" + kIndexFileName).c_str(), O_WRONLY);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(pwrite(fd, bytes, size, offset), static_cast<ssize_t>(size));
  close(fd);
}

class IndexDamage : public ::testing::Test {
 protected:
  void SetUp() override {
    options_ = testing::StoreOptions(tmp_.path() + "/cache");
    auto store = testing::OpenCacheStore(options_);
    ASSERT_TRUE(store);
    for (int i = 0; i < 5; ++i) {
      wavs_.push_back(testing::SeededWav(i));
      ASSERT_TRUE(store->Put("piper", "t" + std::to_string(i), wavs_.back()).ok());
    }
  }
  // The kind found (the only finding), then a repair, then a clean look and
  // every entry served.
  void ExpectFoundAndRepaired(const std::string& kind) {
    Result<VerifyReport> found = VerifyCacheDirectory(options_, false);
    ASSERT_TRUE(found.ok()) << found.error().message;
    EXPECT_EQ(found->verdict, VerifyVerdict::kDamaged);
    ASSERT_EQ(found->findings.size(), 1u) << Describe(*found);
    EXPECT_EQ(found->findings[0].kind, kind);
    EXPECT_EQ(found->findings[0].path, kIndexFileName);
    Result<VerifyReport> repaired = VerifyCacheDirectory(options_, true);
    ASSERT_TRUE(repaired.ok()) << repaired.error().message;
    EXPECT_EQ(repaired->verdict, VerifyVerdict::kRepaired) << Describe(*repaired);
    Result<VerifyReport> after = VerifyCacheDirectory(options_, false);
    ASSERT_TRUE(after.ok());
    EXPECT_EQ(after->verdict, VerifyVerdict::kClean) << Describe(*after);
    EXPECT_EQ(after->entries_checked, 5u) << "the rebuild adopted every entry";
    auto store = testing::OpenCacheStore(options_);
    ASSERT_TRUE(store);
    for (int i = 0; i < 5; ++i)
      EXPECT_EQ(Served(*store, "piper", "t" + std::to_string(i)), wavs_[i]);
  }
  testing::TempDir tmp_;
  CacheOptions options_;
  std::vector<std::vector<uint8_t>> wavs_;
};

TEST_F(IndexDamage, Checksum) {
  const uint8_t flip = 0x5A;
  PatchIndex(options_.dir, 8192 + 40, &flip, 1);  // inside the first entry, past the header
  ExpectFoundAndRepaired("index-checksum");
}

TEST_F(IndexDamage, Unclean) {
  const uint64_t zero = 0;
  PatchIndex(options_.dir, offsetof(IndexHeader, clean), &zero, sizeof(zero));
  ExpectFoundAndRepaired("index-unclean");
}

TEST_F(IndexDamage, Version) {
  const uint32_t version = 99;
  PatchIndex(options_.dir, offsetof(IndexHeader, version), &version, sizeof(version));
  ExpectFoundAndRepaired("index-version");
}

TEST_F(IndexDamage, Missing) {
  fs::remove(options_.dir + "/" + kIndexFileName);
  ExpectFoundAndRepaired("index-missing");
}

TEST_F(IndexDamage, LayoutOfAnotherConfiguration) {
  options_.limits.max_entries = 50;
  ExpectFoundAndRepaired("index-layout");
}

TEST(OfflineVerify, RefusesWhileADaemonHoldsTheDir) {
  testing::TempDir tmp;
  CacheOptions o = testing::StoreOptions(tmp.path() + "/cache");
  auto store = testing::OpenCacheStore(o);
  ASSERT_TRUE(store);
  for (bool repair : {false, true}) {
    Result<VerifyReport> r = VerifyCacheDirectory(o, repair);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Errc::kLocked);
    EXPECT_THAT(r.error().message, HasSubstr("pid " + std::to_string(getpid())));
  }
}

TEST(OfflineVerify, AMissingDirIsAnError) {
  testing::TempDir tmp;
  Result<VerifyReport> r = VerifyCacheDirectory(testing::StoreOptions(tmp.path() + "/none"), false);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error().message, HasSubstr("ENOENT"));
  EXPECT_FALSE(fs::exists(tmp.path() + "/none")) << "nothing is created";
}

TEST(VerifyReportFormat, TableAndSummary) {
  VerifyReport r;
  r.entries_checked = 3;
  r.files_checked = 5;
  r.findings = {{"missing-file", "xtts/a.wav", "gone", true, true},
                {"unknown", "xtts/notes.txt", "not the cache's", false, false}};
  r.verdict = VerifyVerdict::kRepaired;
  EXPECT_EQ(FormatVerifyReport(r, true),
            "KIND          PATH            DETAIL  REPAIRED\n"
            "missing-file  xtts/a.wav      gone  yes\n"
            "unknown       xtts/notes.txt  not the cache's  -\n"
            "repaired: 3 entries, 5 files checked; 1 problem, 1 repaired, 1 remark\n");
  EXPECT_EQ(FormatVerifyReport(VerifyReport{}, false),
            "clean: 0 entries, 0 files checked; 0 problems, 0 repaired, 0 remarks\n");
}

// A file name is anyone's text: one holding a newline must not forge a row.
TEST(VerifyReportFormat, ControlBytesInANameDoNotMakeALine) {
  VerifyReport r;
  r.findings = {{"unknown", "xtts/x\nmissing-file  xtts/forged.wav  gone  yes", "not the cache's",
                 false, false}};
  std::string table = FormatVerifyReport(r, false);
  EXPECT_EQ(std::count(table.begin(), table.end(), '\n'), 3) << table;
  EXPECT_THAT(table, HasSubstr("xtts/x?missing-file"));
}

}  // namespace
}  // namespace ttscache

namespace ttscache {
namespace {

// Voices ("engine/voice", {dir}/{engine}/{voice}/): their folders are walked
// as engine folders are, their paths reported as such, and a voice folder is
// not an unknown file of its engine's.
TEST(VerifyVoices, VoiceFoldersAreCheckedAndRepaired) {
  testing::TempDir tmp;
  CacheOptions o = testing::StoreOptions(tmp.path() + "/cache");
  auto store = testing::OpenCacheStore(o);
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->Put("xtts/alice", "kept", testing::SeededWav(1)).ok());
  ASSERT_TRUE(store->Put("xtts/alice", "lost", testing::SeededWav(2)).ok());
  ASSERT_TRUE(store->Put("xtts", "plain", testing::SeededWav(3)).ok());
  Result<VerifyReport> clean = store->Verify(false);
  ASSERT_TRUE(clean.ok()) << clean.error().message;
  EXPECT_EQ(clean->verdict, VerifyVerdict::kClean) << Describe(*clean);
  EXPECT_EQ(clean->entries_checked, 3u);

  const std::string alice = o.dir + "/xtts/alice/";
  fs::remove(alice + Hex("lost") + ".wav");
  WriteFile(alice + Hex("stray") + ".wav", testing::SeededWav(4));
  WriteFile(alice + Hex("nobody") + ".b32-von-avoip-c10-f20000.opus", std::vector<uint8_t>(5, 1));
  for (bool online : {true, false}) {
    Result<VerifyReport> found = online ? store->Verify(false) : VerifyCacheDirectory(o, false);
    if (!online) {
      ASSERT_FALSE(found.ok()) << "the store holds the lock";
      store.reset();
      found = VerifyCacheDirectory(o, false);
    }
    ASSERT_TRUE(found.ok()) << found.error().message;
    EXPECT_TRUE(Found(*found, "missing-file", "xtts/alice/" + Hex("lost") + ".wav"))
        << Describe(*found);
    EXPECT_TRUE(Found(*found, "not-indexed", "xtts/alice/" + Hex("stray") + ".wav"))
        << Describe(*found);
    EXPECT_TRUE(Found(*found, "orphan-variant",
                      "xtts/alice/" + Hex("nobody") + ".b32-von-avoip-c10-f20000.opus"))
        << Describe(*found);
    EXPECT_EQ(found->findings.size(), 3u) << "the voice folder is no unknown file\n"
                                          << Describe(*found);
  }
  Result<VerifyReport> repaired = VerifyCacheDirectory(o, true);
  ASSERT_TRUE(repaired.ok()) << repaired.error().message;
  EXPECT_EQ(repaired->verdict, VerifyVerdict::kRepaired) << Describe(*repaired);
  store = testing::OpenCacheStore(o);
  ASSERT_TRUE(store);
  Result<VerifyReport> after = store->Verify(false);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->verdict, VerifyVerdict::kClean) << Describe(*after);
  EXPECT_EQ(Served(*store, "xtts/alice", "kept"), testing::SeededWav(1));
  EXPECT_EQ(Served(*store, "xtts/alice", "stray"), testing::SeededWav(4))
      << "adopted into its voice";
  EXPECT_EQ(Served(*store, "xtts", "plain"), testing::SeededWav(3));
  EXPECT_TRUE(Served(*store, "xtts/alice", "lost").empty());
}

}  // namespace
}  // namespace ttscache

namespace ttscache {
namespace {

// Verify while puts (replacing entries, adding variants) and gets go on: it
// must not mistake their work for damage — a file being replaced, a variant
// being added, a named temporary being written — nor repair anything away.
TEST(VerifyOnline, FindsNothingWrongWithPutsAndGetsUnderWay) {
  testing::TempDir tmp;
  CacheOptions o = testing::StoreOptions(tmp.path() + "/cache");
  o.unnamed_temporaries = false;  // named .tmp- files appear in the folder
  auto store = testing::OpenCacheStore(o);
  ASSERT_TRUE(store);
  std::atomic<bool> stop{false};
  std::atomic<int> puts{0};
  std::thread writer([&] {
    OpusParams params;
    for (int i = 0; !stop; ++i) {
      const std::string engine = i % 3 == 0 ? "piper/bob" : "xtts";
      const std::string text = "t" + std::to_string(i % 40);
      if (!store->Put(engine, text, testing::SeededWav(i % 7, 1000 + static_cast<size_t>(i % 5)))
               .ok())
        continue;
      puts++;
      Result<VariantLookup> v = store->GetVariant(engine, text, params);
      if (v.ok() && v->generation != 0) {
        (void)store->PutVariant(engine, text, v->generation, params, std::vector<uint8_t>(64, 3));
      }
    }
  });
  std::thread reader([&] {
    for (int i = 0; !stop; ++i) (void)store->Get("xtts", "t" + std::to_string(i % 40));
  });
  int rounds = 0;
  for (int round = 0; round < 20000 && (round < 30 || puts < 300); ++round, ++rounds) {
    Result<VerifyReport> r = store->Verify(true);
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_TRUE(r->findings.empty()) << "round " << round << "\n" << Describe(*r);
  }
  stop = true;
  writer.join();
  reader.join();
  EXPECT_GE(puts.load(), 300) << "in " << rounds << " rounds";
  Result<VerifyReport> r = store->Verify(false);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->verdict, VerifyVerdict::kClean) << Describe(*r);
  EXPECT_EQ(r->entries_checked, store->Stats().total.entries);
}

}  // namespace
}  // namespace ttscache

namespace ttscache {
namespace {

TEST(VerifyOnline, AVoiceFolderRemovedIsMissingFilesAndRepairs) {
  testing::TempDir tmp;
  CacheOptions o = testing::StoreOptions(tmp.path() + "/cache");
  auto store = testing::OpenCacheStore(o);
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->Put("piper/carol", "a", testing::SeededWav(1)).ok());
  ASSERT_TRUE(store->Put("piper", "b", testing::SeededWav(2)).ok());
  fs::remove_all(o.dir + "/piper/carol");
  Result<VerifyReport> r = store->Verify(true);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_TRUE(Found(*r, "missing-file", "piper/carol/" + Hex("a") + ".wav")) << Describe(*r);
  EXPECT_EQ(r->verdict, VerifyVerdict::kRepaired) << Describe(*r);
  EXPECT_EQ(store->Verify(false)->verdict, VerifyVerdict::kClean);
  EXPECT_EQ(Served(*store, "piper", "b"), testing::SeededWav(2));
}

}  // namespace
}  // namespace ttscache

namespace ttscache {
namespace {

// CheckWavHeader on files past the 64 KiB it reads: the header is judged
// from the first 64 KiB, the data chunk's size against the file's.
class WavHeaderCheck : public ::testing::Test {
 protected:
  Status Check(const std::vector<uint8_t>& bytes) {
    const std::string path = tmp_.path() + "/f.wav";
    WriteFile(path, bytes);
    UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
    EXPECT_TRUE(fd.valid());
    return verify::CheckWavHeader(fd.get(), bytes.size());
  }
  testing::TempDir tmp_;
};

TEST_F(WavHeaderCheck, LargeFilesJudgedByTheirHeader) {
  const std::vector<uint8_t> pcm(300000, 5);  // 150,000 frames of 16-bit mono
  testing::WavSpec spec;
  spec.between.push_back({"LIST", std::vector<uint8_t>(100, 'l'), std::nullopt});
  EXPECT_TRUE(Check(testing::MakeWav(spec, pcm)).ok());
  testing::WavSpec first = spec;
  first.data_before_fmt = true;  // fmt past 64 KiB: read whole, still sound
  EXPECT_TRUE(Check(testing::MakeWav(first, pcm)).ok());
  testing::WavSpec streaming = spec;
  streaming.data_size = 0xFFFFFFFF;  // "to the end"
  EXPECT_TRUE(Check(testing::MakeWav(streaming, pcm)).ok());

  std::vector<uint8_t> cut = testing::MakeWav(spec, pcm);
  cut.resize(cut.size() - 1001);  // the data chunk says more than is there
  Status truncated = Check(cut);
  ASSERT_FALSE(truncated.ok());
  EXPECT_THAT(truncated.error().message, HasSubstr("truncated data chunk"));
  testing::WavSpec odd = spec;
  odd.data_size = static_cast<uint32_t>(pcm.size() - 1);  // half a frame
  EXPECT_THAT(Check(testing::MakeWav(odd, pcm)).error().message, HasSubstr("whole number"));
  testing::WavSpec bad_fmt = spec;
  bad_fmt.channels = 9;
  EXPECT_EQ(Check(testing::MakeWav(bad_fmt, pcm)).error().code, Errc::kBadAudio);
  std::vector<uint8_t> garbage(100000, 'g');
  EXPECT_EQ(Check(garbage).error().code, Errc::kBadAudio);
}

}  // namespace
}  // namespace ttscache
