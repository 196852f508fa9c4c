// ttscached's entry point: parse the command line, load the configuration,
// then hand over to the server. Kept thin so the tests can drive the rest.
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <cstdio>
#include <iostream>

#include "core/config/config.hpp"
#include "core/log.hpp"
#include "daemon/cache/cache_store.hpp"
#include "daemon/command_line.hpp"
#include "daemon/listen_socket.hpp"
#include "daemon/server.hpp"
#include "daemon/verify_command.hpp"
#include "ttscache/build_info.hpp"

namespace {

// The config file when none is named: the installed default if it exists,
// else the built-in defaults (plus the environment).
std::optional<std::string> DefaultConfigPath() {
  struct stat st;
  if (::stat(ttscache::build::kDefaultConfigPath, &st) == 0) {
    return std::string(ttscache::build::kDefaultConfigPath);
  }
  return std::nullopt;
}

// Raises the soft descriptor limit to the hard one, as systemd.exec(5)
// advises programs that need many descriptors and do not use select(): every
// client is a descriptor, and so is every cached file kept open.
void RaiseDescriptorLimit() {
  rlimit nofile{};
  if (::getrlimit(RLIMIT_NOFILE, &nofile) != 0 || nofile.rlim_cur >= nofile.rlim_max) return;
  nofile.rlim_cur = nofile.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &nofile);
}

}  // namespace

int main(int argc, char** argv) {
  using namespace ttscache;
  Result<DaemonCommandLine> cl = ParseDaemonCommandLine({argv + 1, argv + argc});
  if (!cl) {
    std::cerr << "ttscached: " << cl.error().message << "\n" << kDaemonUsage;
    return 2;
  }
  switch (cl->action) {
    case DaemonCommandLine::Action::kHelp:
      std::cout << kDaemonUsage;
      return 0;
    case DaemonCommandLine::Action::kVersion:
      std::cout << "ttscached " << build::kVersion << "\n";
      return 0;
    default:
      break;
  }

  std::optional<std::string> path = cl->config_path ? cl->config_path : DefaultConfigPath();
  Result<LoadedConfig> loaded = LoadConfigFile(path);
  if (!loaded) {
    // One line per problem, each with the sd-daemon error prefix.
    std::string message = loaded.error().message;
    size_t start = 0;
    while (start <= message.size()) {
      size_t end = message.find('\n', start);
      if (end == std::string::npos) end = message.size();
      log::Error(std::string_view(message).substr(start, end - start));
      start = end + 1;
    }
    return loaded.error().code == Errc::kConfig ? kExitConfig : 1;
  }
  switch (cl->action) {
    case DaemonCommandLine::Action::kPrintConfig:
      std::cout << FormatConfig(*loaded);
      return 0;
    case DaemonCommandLine::Action::kCheckConfig:
      std::cout << *path << ": ok\n";
      return 0;
    case DaemonCommandLine::Action::kVerify:
      return RunVerifyCommand(loaded->config, cl->verify_dir, cl->repair, std::cout);
    default:
      break;
  }
  RaiseDescriptorLimit();  // before the store sizes its cache of open files from it
  const Config& config = loaded->config;
  CacheOptions cache;
  cache.dir = config.cache.dir;
  cache.engines = config.cache.engines;
  cache.limits = {config.cache.max_entries,      config.cache.max_bytes,
                  config.cache.max_text_bytes,   config.cache.min_free_bytes,
                  config.cache.min_free_percent, config.cache.max_age_s};
  cache.fsync = config.cache.fsync;
  Result<std::unique_ptr<CacheStore>> store = CacheStore::Open(cache);
  if (!store) {
    log::Error("ttscached: cannot open the cache: " + store.error().message);
    return store.error().code == Errc::kLocked ? 75 : 1;  // EX_TEMPFAIL: another daemon runs
  }
  const CacheOpenReport& r = (*store)->open_report();
  if (!r.rebuild_reason.empty()) {
    log::Notice("cache: rebuilt the index from " + config.cache.dir + " (" + r.rebuild_reason +
                "): " + std::to_string(r.adopted) + " entries and " +
                std::to_string(r.variants_adopted) + " variants adopted, " +
                std::to_string(r.temporaries_removed) + " temporaries and " +
                std::to_string(r.invalid_removed) + " incomplete files removed in " +
                std::to_string(static_cast<int>(r.seconds * 1000)) + " ms");
  }
  if (!r.unnamed_temporaries) {
    log::Notice("cache: " + config.cache.dir +
                " has no O_TMPFILE (or /proc is missing): new files are written as named "
                "temporaries and renamed");
  }
  // The fleet tier: settings it cannot use (credentials) are a
  // configuration error. It connects nothing yet.
  std::unique_ptr<FleetTier> tier;
  if (!config.tier.servers.empty()) {
    // Its threads start now: they must inherit the mask Server::Run sets,
    // or a SIGTERM delivered to one of them kills the process (the signalfd
    // only sees signals blocked in every thread).
    sigset_t signals;
    sigemptyset(&signals);
    for (int s : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&signals, s);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    Result<std::unique_ptr<FleetTier>> started = FleetTier::Start(config.tier, store->get());
    if (!started) {
      log::Error("ttscached: [tier]: " + started.error().message);
      return started.error().code == Errc::kConfig ? kExitConfig : 1;
    }
    tier = std::move(*started);
    log::Info("ttscached: fleet tier of " + std::to_string(config.tier.servers.size()) +
              " memcached server(s), timeout " + std::to_string(config.tier.timeout_ms) + " ms");
  }
  Result<ListenSocket> listen = OpenListenSocket(config.daemon);
  if (!listen) {
    log::Error("ttscached: " + listen.error().message);
    return 1;
  }
  Server server(std::move(*loaded), path, std::move(*store), std::move(*listen), std::move(tier));
  return server.Run();
}
