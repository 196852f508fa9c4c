// Configuration: every key parsed, every error path, env beats file, sources.
#include "core/config/config.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>

namespace ttscache {
namespace {

using ::testing::HasSubstr;

struct Env {
  std::map<std::string, std::string> vars;
  EnvLookup lookup() const {
    return [this](const char* name) -> const char* {
      auto it = vars.find(name);
      return it == vars.end() ? nullptr : it->second.c_str();
    };
  }
};

Result<LoadedConfig> Load(const std::string& text, const Env& env = {},
                          std::vector<int> usable = {0, 1, 2, 3}) {
  ConfigInput in;
  in.origin = "test.conf";
  in.text = text;
  in.env = env.lookup();
  in.usable_cpus = std::move(usable);
  return LoadConfig(in);
}

// The defaults themselves: config_defaults_test.cpp (the table against the
// docs and the shipped file).

TEST(Config, EveryKeyIsParsed) {
  Result<LoadedConfig> r = Load(
      "; a comment\n"
      "# another\n"
      "[daemon]\n"
      "socket = /tmp/x.sock\n"
      "socket_mode = 0600\n"
      "socket_group = root\n"
      "allowed_uids = 0, 1000 ,root\n"
      "allowed_gids = 0 5\n"
      "cpus = 0,2-3\n"
      "workers = 4\n"
      "queue_depth = 8   ; inline comment\n"
      "idle_timeout_s = 0\n"
      "busy_poll_us = 50\n"
      "[cache]\n"
      "dir = /srv/cache\n"
      "engines = piper, xtts-v2,e_3\n"
      "max_entries = 10000\n"
      "max_bytes = 512M\n"
      "max_text_bytes = 100\n"
      "fsync = false\n"
      "[opus]\n"
      "enabled = no\n"
      "bitrate_kbps = 64\n"
      "vbr = constrained\n"
      "application = lowdelay\n"
      "complexity = 0\n"
      "frame_ms = 2.5\n");
  ASSERT_TRUE(r.ok()) << r.error().message;
  const Config& c = r->config;
  EXPECT_EQ(c.daemon.socket, "/tmp/x.sock");
  EXPECT_EQ(c.daemon.socket_mode, 0600u);
  EXPECT_EQ(c.daemon.socket_group, "root");
  EXPECT_EQ(c.daemon.allowed_uids, (std::vector<uid_t>{0, 1000}));
  EXPECT_EQ(c.daemon.allowed_gids, (std::vector<gid_t>{0, 5}));
  EXPECT_EQ(c.daemon.cpus, (std::vector<int>{0, 2, 3}));
  EXPECT_EQ(c.daemon.workers, 4);
  EXPECT_EQ(c.daemon.queue_depth, 8);
  EXPECT_EQ(c.daemon.idle_timeout_s, 0);
  EXPECT_EQ(c.daemon.busy_poll_us, 50);
  EXPECT_EQ(c.cache.dir, "/srv/cache");
  EXPECT_EQ(c.cache.engines, (std::vector<std::string>{"piper", "xtts-v2", "e_3"}));
  EXPECT_EQ(c.cache.max_entries, 10000u);
  EXPECT_EQ(c.cache.max_bytes, 512ull << 20);
  EXPECT_EQ(c.cache.max_text_bytes, 100u);
  EXPECT_FALSE(c.cache.fsync);
  EXPECT_FALSE(c.opus.enabled);
  EXPECT_EQ(c.opus.params.bitrate_kbps, 64);
  EXPECT_EQ(c.opus.params.vbr, VbrMode::kConstrained);
  EXPECT_EQ(c.opus.params.application, OpusApplication::kLowDelay);
  EXPECT_EQ(c.opus.params.complexity, 0);
  EXPECT_EQ(c.opus.params.frame_us, 2500);
  const ValueSource& s = r->sources.at("daemon.queue_depth");
  EXPECT_EQ(s.kind, ValueSource::Kind::kFile);
  EXPECT_EQ(s.line, 11);
  EXPECT_EQ(s.file, "test.conf");
  EXPECT_EQ(s.text, "8");
}

TEST(Config, CoordinateKeysAreParsed) {
  Result<LoadedConfig> r = Load(
      "[coordinate]\n"
      "claims = false\n"
      "lease_s = 5\n"
      "max_wait_s = 0\n"
      "max_claims = 7\n"
      "max_claims_per_connection = 3\n"
      "max_waiters_per_key = 9\n"
      "slots = xtts:1, piper:4,gpu:0\n"
      "default_slots = 0\n"
      "max_slot_waiters = 11\n");
  ASSERT_TRUE(r.ok()) << r.error().message;
  const CoordinateSettings& c = r->config.coordinate;
  EXPECT_FALSE(c.claims);
  EXPECT_EQ(c.lease_s, 5);
  EXPECT_EQ(c.max_wait_s, 0);
  EXPECT_EQ(c.max_claims, 7);
  EXPECT_EQ(c.max_claims_per_connection, 3);
  EXPECT_EQ(c.max_waiters_per_key, 9);
  using Slots = std::vector<std::pair<std::string, int>>;
  EXPECT_EQ(c.slots, (Slots{{"xtts", 1}, {"piper", 4}, {"gpu", 0}}));
  EXPECT_EQ(c.default_slots, 0);
  EXPECT_EQ(c.max_slot_waiters, 11);
  // Empty: no slot of its own (every engine has default_slots).
  Result<LoadedConfig> none = Load("[coordinate]\nslots =\n");
  ASSERT_TRUE(none.ok()) << none.error().message;
  EXPECT_TRUE(none->config.coordinate.slots.empty());
  // The largest size and the longest name.
  Result<LoadedConfig> big = Load("[coordinate]\nslots = abcdefghijabcdefghijabcdefghijab:1024\n");
  ASSERT_TRUE(big.ok()) << big.error().message;
  EXPECT_EQ(big->config.coordinate.slots, (Slots{{"abcdefghijabcdefghijabcdefghijab", 1024}}));
}

TEST(Config, TierKeysAreParsed) {
  Result<LoadedConfig> r = Load(
      "[tier]\n"
      "servers = cache1:11311, cache2 ,[fd00::7]:11212, [::1], 10.0.0.5, /run/mc.sock\n"
      "timeout_ms = 250\n"
      "queue_size = 1\n"
      "share = opus\n"
      "max_item_bytes = 8M\n"
      "key_prefix = Stage_1.a-b\n"
      "expire = 30d\n"
      "sasl_credentials = tier-sasl\n"
      "lookup_threads = 64\n");
  ASSERT_TRUE(r.ok()) << r.error().message;
  const TierSettings& t = r->config.tier;
  using S = std::vector<TierServer>;
  EXPECT_EQ(t.servers, (S{{"cache1", 11311, ""},
                          {"cache2", 11211, ""},
                          {"fd00::7", 11212, ""},
                          {"::1", 11211, ""},
                          {"10.0.0.5", 11211, ""},
                          {"", 0, "/run/mc.sock"}}));
  EXPECT_EQ(t.timeout_ms, 250);
  EXPECT_EQ(t.queue_size, 1);
  EXPECT_FALSE(t.share_wav);
  EXPECT_TRUE(t.share_opus);
  EXPECT_EQ(t.max_item_bytes, 8ull << 20);
  EXPECT_EQ(t.key_prefix, "Stage_1.a-b");
  EXPECT_EQ(t.expire_s, 30u * 86400);
  EXPECT_EQ(t.sasl_credentials, "tier-sasl");
  EXPECT_EQ(t.lookup_threads, 64);
  // The defaults: off, both kinds shared.
  const TierSettings& d = DefaultConfig().tier;
  EXPECT_TRUE(d.servers.empty());
  EXPECT_TRUE(d.share_wav && d.share_opus);
  EXPECT_EQ(d.max_item_bytes, 1u << 20);
  // share may be empty: the tier is connected but unused.
  Result<LoadedConfig> none = Load("[tier]\nshare =\nservers = a\n");
  ASSERT_TRUE(none.ok()) << none.error().message;
  EXPECT_FALSE(none->config.tier.share_wav || none->config.tier.share_opus);
  // 64 servers are allowed, a line holding at most 198 bytes: the key is
  // repeated, 6 real addresses per line, each line adding to those before.
  std::string many = "[tier]";
  for (int i = 0; i < 64; ++i) {
    many += (i % 6 == 0 ? "\nservers = cache-" : ", cache-") + std::to_string(i / 6) + "-" +
            std::to_string(i % 6) + ".example.net:11211";
  }
  many += "\n";
  Result<LoadedConfig> sixty_four = Load(many);
  ASSERT_TRUE(sixty_four.ok()) << sixty_four.error().message;
  ASSERT_EQ(sixty_four->config.tier.servers.size(), 64u);
  EXPECT_EQ(sixty_four->config.tier.servers[9].host, "cache-1-3.example.net");
  EXPECT_EQ(sixty_four->config.tier.servers[63].host, "cache-10-3.example.net");
  Result<LoadedConfig> sixty_five = Load(many + "servers = one-more:11211\n");
  ASSERT_FALSE(sixty_five.ok());
  EXPECT_THAT(sixty_five.error().message, HasSubstr("more than 64 servers"));
  // A server named on two lines is a repeat, as on one.
  Result<LoadedConfig> twice = Load("[tier]\nservers = a:1\nservers = b:1, a:1\n");
  ASSERT_FALSE(twice.ok());
  EXPECT_THAT(twice.error().message, HasSubstr("a:1"));
  // Other keys stay single.
  Result<LoadedConfig> timeout_twice = Load("[tier]\ntimeout_ms = 5\ntimeout_ms = 6\n");
  ASSERT_FALSE(timeout_twice.ok());
  EXPECT_THAT(timeout_twice.error().message, HasSubstr("duplicate key"));
}

TEST(Config, ByteSizesAcceptSuffixes) {
  struct Case {
    const char* text;
    uint64_t bytes;
  };
  for (Case c : {Case{"0", 0}, Case{"1024", 1024}, Case{"4K", 4096}, Case{"2G", 2ull << 30},
                 Case{"1t", 1ull << 40}, Case{"512m", 512ull << 20}}) {
    Result<LoadedConfig> r = Load(std::string("[cache]\nmax_bytes = ") + c.text + "\n");
    ASSERT_TRUE(r.ok()) << c.text << ": " << r.error().message;
    EXPECT_EQ(r->config.cache.max_bytes, c.bytes) << c.text;
  }
}

struct BadCase {
  std::string text;      // file contents
  int line;              // the line the message must name
  const char* expected;  // a substring the message must contain
};

void PrintTo(const BadCase& c, std::ostream* os) { *os << "line " << c.line << ": " << c.expected; }

class ConfigErrors : public ::testing::TestWithParam<BadCase> {};

TEST_P(ConfigErrors, NameFileLineValueAndWhatIsAllowed) {
  const BadCase& c = GetParam();
  Result<LoadedConfig> r = Load(c.text);
  ASSERT_FALSE(r.ok()) << c.text;
  EXPECT_EQ(r.error().code, Errc::kConfig);
  EXPECT_THAT(r.error().message, HasSubstr("test.conf:" + std::to_string(c.line) + ": "));
  EXPECT_THAT(r.error().message, HasSubstr(c.expected));
}

INSTANTIATE_TEST_SUITE_P(
    Table, ConfigErrors,
    ::testing::Values(
        BadCase{"[nope]\nx = 1\n", 2, "unknown section [nope]"},
        BadCase{"[tiers]\nservers = a\n", 2,
                "expected one of: [daemon], [cache], [opus], "
                "[stream], [coordinate], [tier]"},
        BadCase{"[daemon]\nsockets = /x\n", 2,
                "unknown key \"sockets\" in [daemon], expected one of"},
        BadCase{"[daemon]\nworkers = many\n", 2, "workers = many: not an integer, expected 1–256"},
        BadCase{"[daemon]\nworkers = 0\n", 2, "workers = 0: out of range, expected 1–256"},
        BadCase{"[daemon]\nworkers = 3x\n", 2, "not an integer"},
        BadCase{"[daemon]\nqueue_depth = -1\n", 2, "queue_depth = -1: out of range"},
        BadCase{"[daemon]\nidle_timeout_s = 90000\n", 2, "idle_timeout_s = 90000: out of range"},
        BadCase{"[daemon]\nbusy_poll_us = 10001\n", 2,
                "busy_poll_us = 10001: out of range, expected 0–10000"},
        BadCase{"[daemon]\nsend_timeout_s = 0\n", 2,
                "send_timeout_s = 0: out of range, expected 1–3600"},
        BadCase{"[daemon]\nmax_encode_seconds = 0\n", 2, "max_encode_seconds = 0: out of range"},
        BadCase{"[daemon]\nmax_connections = -1\n", 2, "max_connections = -1: out of range"},
        BadCase{"[daemon]\nsocket_mode = 0999\n", 2, "expected an octal mode 0000–0777"},
        BadCase{"[daemon]\nsocket_mode = 01777\n", 2, "expected an octal mode"},
        BadCase{"[daemon]\nsocket_group = no-such-group-xyz\n", 2, "no group named"},
        BadCase{"[daemon]\nallowed_uids = 0, nobody-xyz\n", 2, "no user named \"nobody-xyz\""},
        BadCase{"[daemon]\nallowed_gids = 12ab\n", 2, "no group named \"12ab\""},
        BadCase{"[daemon]\ncpus = 6-x\n", 2, "cpus = 6-x: bad CPU list item \"6-x\""},
        BadCase{"[daemon]\ncpus = 0,9\n", 2, "CPU 9 is not one this process may use"},
        BadCase{"[daemon]\nsocket = \n", 2, "expected a socket path"},
        BadCase{"[cache]\nengines = xtts, Piper\n", 2, "engine name \"Piper\" is invalid"},
        BadCase{"[cache]\nengines = ../etc\n", 2, "[a-z0-9][a-z0-9_-]{0,31}"},
        BadCase{"[cache]\nengines = a, a\n", 2, "listed twice"},
        BadCase{"[cache]\nengines = ,\n", 2, "at least one engine"},
        BadCase{"[cache]\nengines = abcdefghijabcdefghijabcdefghijabc\n", 2, "is invalid"},
        BadCase{"[cache]\nmax_entries = 0\n", 2, "max_entries = 0: out of range"},
        BadCase{"[cache]\nmax_bytes = 2X\n", 2, "max_bytes = 2X: expected bytes"},
        BadCase{"[cache]\nmax_bytes = 99999999999T\n", 2, "too large"},
        BadCase{"[cache]\nmax_text_bytes = 0\n", 2, "out of range"},
        BadCase{"[cache]\nfsync = maybe\n", 2, "fsync = maybe: expected true or false"},
        BadCase{"[cache]\ndir =\n", 2, "expected a directory path"},
        BadCase{"[opus]\nenabled = 2\n", 2, "expected true or false"},
        BadCase{"\n\n\n[opus]\nbitrate_kbps = 900\n", 5,
                "bitrate_kbps = 900: out of range, expected 6–510"},
        BadCase{"[opus]\nbitrate_kbps = 5\n", 2, "expected 6–510"},
        BadCase{"[opus]\ncomplexity = 11\n", 2, "complexity = 11: out of range, expected 0–10"},
        BadCase{"[opus]\nvbr = maybe\n", 2, "expected on, off or constrained"},
        BadCase{"[opus]\napplication = music\n", 2, "expected voip, audio or lowdelay"},
        BadCase{"[opus]\nframe_ms = 15\n", 2,
                "frame_ms = 15: expected one of 2.5, 5, 10, 20, 40, 60"},
        BadCase{"[opus]\nbitrate_kbps = 32\nbitrate_kbps = 40\n", 3,
                "duplicate key, first set on line 2"},
        BadCase{"[opus]\njust words\n", 2, "expected 'key = value' or '[section]'"},
        BadCase{"[stream]\nmax_buffered_bytes = 1K\n", 2, "expected 64K–64M"},
        BadCase{"[stream]\nmax_per_connection = 0\n", 2, "out of range, expected 1–1024"},
        BadCase{"[stream]\nidle_timeout_s = 0\n", 2, "out of range, expected 1–3600"},
        BadCase{"[coordinate]\nclaims = perhaps\n", 2, "expected true or false"},
        BadCase{"[coordinate]\nlease_s = 0\n", 2, "lease_s = 0: out of range, expected 1–3600"},
        BadCase{"[coordinate]\nmax_wait_s = 3601\n", 2, "out of range, expected 0–3600"},
        BadCase{"[coordinate]\nmax_claims = 0\n", 2, "out of range, expected 1–1000000"},
        BadCase{"[coordinate]\nmax_claims_per_connection = 65537\n", 2,
                "out of range, expected 1–65536"},
        BadCase{"[coordinate]\nmax_waiters_per_key = 0\n", 2, "out of range, expected 1–65536"},
        BadCase{"[coordinate]\ndefault_slots = 1025\n", 2, "out of range, expected 0–1024"},
        BadCase{"[coordinate]\nmax_slot_waiters = 0\n", 2, "out of range, expected 1–1000000"},
        BadCase{"[coordinate]\nslots = xtts\n", 2, "slot \"xtts\" has no size, expected name:size"},
        BadCase{"[coordinate]\nslots = xtts:1, Gpu:2\n", 2,
                "slot \"Gpu:2\": the name \"Gpu\" is invalid, expected [a-z0-9][a-z0-9_-]{0,31}"},
        BadCase{"[coordinate]\nslots = :2\n", 2, "the name \"\" is invalid"},
        BadCase{"[coordinate]\nslots = gpu:1025\n", 2,
                "slot \"gpu:1025\": the size \"1025\" is invalid, expected an integer 0–1024"},
        BadCase{"[coordinate]\nslots = gpu:-1\n", 2, "the size \"-1\" is invalid"},
        BadCase{"[coordinate]\nslots = gpu:\n", 2, "the size \"\" is invalid"},
        BadCase{"[coordinate]\nslots = gpu:1x\n", 2, "the size \"1x\" is invalid"},
        BadCase{"[coordinate]\nslots = gpu:1:2\n", 2, "the size \"1:2\" is invalid"},
        BadCase{"[coordinate]\nslots = gpu:1, xtts:2, gpu:3\n", 2, "slot \"gpu\" is listed twice"},
        BadCase{"[coordinate]\nslots = abcdefghijabcdefghijabcdefghijabc:1\n", 2, "is invalid"},
        BadCase{"[tier]\nservers = cache1:0\n", 2,
                "servers = cache1:0: server \"cache1:0\": the port \"0\" is invalid, expected "
                "1–65535"},
        BadCase{"[tier]\nservers = cache1:65536\n", 2, "the port \"65536\" is invalid"},
        BadCase{"[tier]\nservers = cache1:x\n", 2, "the port \"x\" is invalid"},
        BadCase{"[tier]\nservers = cache1:\n", 2, "no port after ':'"},
        BadCase{"[tier]\nservers = fd00::7\n", 2, "an IPv6 address goes in brackets"},
        BadCase{"[tier]\nservers = [fd00::7\n", 2, "'[' without ']'"},
        BadCase{"[tier]\nservers = [cache1]:1\n", 2, "\"cache1\" is not an IPv6 address"},
        BadCase{"[tier]\nservers = [::1]x\n", 2, "expected [v6addr]:port"},
        BadCase{"[tier]\nservers = cache_1\n", 2, "expected host:port, host, [v6addr]:port"},
        BadCase{"[tier]\nservers = :11211\n", 2, "expected host:port"},
        BadCase{"[tier]\nservers = /" + std::string(107, 'a') + "\n", 2,
                "a socket path is at most 107 bytes"},
        BadCase{"[tier]\nservers = a:1, b, a:1\n", 2, "server \"a:1\" is listed twice"},
        BadCase{"[tier]\nservers = a, a:11211\n", 2, "server \"a:11211\" is listed twice"},
        BadCase{"[tier]\ntimeout_ms = 0\n", 2, "timeout_ms = 0: out of range, expected 1–10000"},
        BadCase{"[tier]\ntimeout_ms = 10001\n", 2, "out of range, expected 1–10000"},
        BadCase{"[tier]\nqueue_size = 0\n", 2, "queue_size = 0: out of range, expected 1–1000000"},
        BadCase{"[tier]\nshare = wav, mp3\n", 2,
                "share = wav, mp3: \"mp3\" is not something shared, expected wav and/or opus"},
        BadCase{"[tier]\nshare = opus opus\n", 2, "\"opus\" is listed twice"},
        BadCase{"[tier]\nmax_item_bytes = 1023\n", 2,
                "max_item_bytes = 1023: expected 1K–1G (bytes, suffix K, M or G)"},
        BadCase{"[tier]\nmax_item_bytes = 2G\n", 2, "expected 1K–1G"},
        BadCase{"[tier]\nmax_item_bytes = 1X\n", 2, "expected 1K–1G"},
        BadCase{"[tier]\nkey_prefix = a:b\n", 2, "key_prefix = a:b: expected [A-Za-z0-9_.-]{1,32}"},
        BadCase{"[tier]\nkey_prefix = \n", 2, "expected [A-Za-z0-9_.-]{1,32}"},
        BadCase{"[tier]\nkey_prefix = " + std::string(33, 'k') + "\n", 2, "{1,32}"},
        BadCase{"[tier]\nexpire = 31d\n", 2, "expire = 31d: too long, expected at most 30d"},
        BadCase{"[tier]\nexpire = 2w\n", 2, "expected seconds with an optional suffix"},
        BadCase{"[tier]\nlookup_threads = 0\n", 2, "out of range, expected 1–64"},
        BadCase{"[tier]\nlookup_threads = 65\n", 2, "out of range, expected 1–64"},
        BadCase{"[opus\n", 1, "lacks ']'"},
        BadCase{"[opus]\n" + std::string(300, 'a') + " = 1\n", 2, "line longer than"}));

TEST(Config, ReportsEveryProblemOneLineEach) {
  Result<LoadedConfig> r = Load("[daemon]\nworkers = 0\n[opus]\ncomplexity = 99\nbogus = 1\n");
  ASSERT_FALSE(r.ok());
  const std::string& m = r.error().message;
  EXPECT_EQ(std::count(m.begin(), m.end(), '\n'), 2) << m;
  EXPECT_THAT(m, HasSubstr("test.conf:2: "));
  EXPECT_THAT(m, HasSubstr("test.conf:4: "));
  EXPECT_THAT(m, HasSubstr("test.conf:5: "));
}

TEST(Config, EnvironmentBeatsFile) {
  Env env{{{"OPUS_ENABLED", "false"},
           {"OPUS_BITRATE", "48"},
           {"TTS_CACHE_DIR", "/data/tts-cache"},
           {"TTS_CACHE_MAX", "1000"},
           {"TTS_MAX_PARALLEL", "3"}}};
  Result<LoadedConfig> r = Load(
      "[daemon]\nworkers = 8\n[cache]\ndir = /a\nmax_entries = 7\n[opus]\nbitrate_kbps = 24\n"
      "[coordinate]\ndefault_slots = 5\n",
      env);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_FALSE(r->config.opus.enabled);
  EXPECT_EQ(r->config.opus.params.bitrate_kbps, 48);
  EXPECT_EQ(r->config.cache.dir, "/data/tts-cache");
  EXPECT_EQ(r->config.cache.max_entries, 1000u);
  // TTS_MAX_PARALLEL limited the Node backend's parallel syntheses: it sets
  // the synthesis slots now, and leaves the encode workers alone.
  EXPECT_EQ(r->config.coordinate.default_slots, 3);
  EXPECT_EQ(r->config.daemon.workers, 8);
  const ValueSource& s = r->sources.at("opus.bitrate_kbps");
  EXPECT_EQ(s.kind, ValueSource::Kind::kEnv);
  EXPECT_EQ(s.env, "OPUS_BITRATE");
}

TEST(Config, EmptyEnvironmentValueMeansUnset) {
  Result<LoadedConfig> r = Load("[opus]\nbitrate_kbps = 24\n", Env{{{"OPUS_BITRATE", ""}}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->config.opus.params.bitrate_kbps, 24);
}

TEST(Config, BadEnvironmentValueNamesTheVariable) {
  Result<LoadedConfig> r = Load("", Env{{{"OPUS_BITRATE", "900"}, {"OPUS_ENABLED", "yes please"}}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kConfig);
  EXPECT_THAT(r.error().message, HasSubstr("environment OPUS_BITRATE=900"));
  EXPECT_THAT(r.error().message, HasSubstr("expected 6–510"));
  EXPECT_THAT(r.error().message, HasSubstr("environment OPUS_ENABLED=yes please"));
}

TEST(Config, FormatNamesEverySource) {
  Result<LoadedConfig> r =
      Load("[opus]\n\nbitrate_kbps = 24\n[coordinate]\nslots = gpu:1, xtts:0\n",
           Env{{{"TTS_MAX_PARALLEL", "3"}}});
  ASSERT_TRUE(r.ok());
  std::string text = FormatConfig(*r);
  EXPECT_THAT(text, HasSubstr("[daemon]\n"));
  EXPECT_THAT(text, ::testing::ContainsRegex("bitrate_kbps = 24 +; file test.conf:3"));
  EXPECT_THAT(text, ::testing::ContainsRegex("default_slots = 3 +; env TTS_MAX_PARALLEL"));
  EXPECT_THAT(text, ::testing::ContainsRegex("workers = 2 +; default"));
  EXPECT_THAT(text, HasSubstr("[coordinate]\n"));
  EXPECT_THAT(text, ::testing::ContainsRegex("complexity = 10 +; default"));
  // The printed configuration is itself a valid configuration with the same values.
  Result<LoadedConfig> again = Load(text);
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ(again->config.opus.params.bitrate_kbps, 24);
  EXPECT_EQ(again->config.coordinate.default_slots, 3);
  using Slots = std::vector<std::pair<std::string, int>>;
  EXPECT_EQ(again->config.coordinate.slots, (Slots{{"gpu", 1}, {"xtts", 0}}));
}

TEST(Config, EngineNames) {
  for (const char* ok : {"xtts", "piper", "a", "0", "a-b_c", "abcdefghijabcdefghijabcdefghijab"}) {
    EXPECT_TRUE(IsValidEngineName(ok)) << ok;
  }
  for (const char* bad :
       {"", "-a", "_a", "A", "a/b", "..", "a.b", "a b", "abcdefghijabcdefghijabcdefghijabc"}) {
    EXPECT_FALSE(IsValidEngineName(bad)) << bad;
  }
}

}  // namespace
}  // namespace ttscache
