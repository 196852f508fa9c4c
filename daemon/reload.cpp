// SIGHUP: reload the configuration file and apply what can change while
// clients are connected — Opus settings, stream limits, cache limits
// (min_free and max_age too), allowed and admin uids/gids, timeouts, busy
// polling, the encode length bound, [coordinate] (claims and slots). What shapes the running
// process (socket, cache folder, engines, workers, CPUs, queue depth, connection limit, [tier])
// needs a restart: a change to it is logged and ignored. A file that does not load leaves the
// running configuration as it was. systemd is told RELOADING=1 first and READY=1 when done
// (Type=notify).
#include "core/log.hpp"
#include "daemon/server.hpp"

namespace ttscache {

void Server::Reload() {
  systemd_.Reloading();
  Result<LoadedConfig> fresh = LoadConfigFile(config_path_);
  if (!fresh) {
    log::Error("reload: keeping the running configuration: " + fresh.error().message);
    systemd_.Reloaded();
    return;
  }
  const Config& now = config_.config;
  const Config& next = fresh->config;
  if (next.daemon.socket != now.daemon.socket || next.cache.dir != now.cache.dir ||
      next.cache.engines != now.cache.engines || next.daemon.workers != now.daemon.workers ||
      next.daemon.cpus != now.daemon.cpus || next.daemon.queue_depth != now.daemon.queue_depth ||
      next.daemon.socket_mode != now.daemon.socket_mode ||
      next.daemon.socket_group != now.daemon.socket_group ||
      next.daemon.max_connections != now.daemon.max_connections) {
    log::Warning(
        "reload: socket, socket_mode, socket_group, cache dir, engines, workers, cpus, "
        "queue_depth and max_connections changes need a restart; they are left as they were");
  }
  if (!(next.tier == now.tier)) {
    log::Warning("reload: [tier] changes need a restart; the tier is left as it was");
  }
  CacheLimits limits{next.cache.max_entries,      next.cache.max_bytes,
                     next.cache.max_text_bytes,   next.cache.min_free_bytes,
                     next.cache.min_free_percent, next.cache.max_age_s};
  if (Status s = store_->SetLimits(limits); !s) {
    log::Warning("reload: cache limits not applied: " + s.error().message);
  }
  config_.config.opus = next.opus;
  config_.config.stream = next.stream;
  config_.config.daemon.allowed_uids = next.daemon.allowed_uids;
  config_.config.daemon.allowed_gids = next.daemon.allowed_gids;
  config_.config.daemon.admin_uids = next.daemon.admin_uids;
  config_.config.daemon.admin_gids = next.daemon.admin_gids;
  config_.config.cache.max_entries = next.cache.max_entries;
  config_.config.cache.max_bytes = next.cache.max_bytes;
  config_.config.cache.max_text_bytes = next.cache.max_text_bytes;
  config_.config.cache.min_free_bytes = next.cache.min_free_bytes;
  config_.config.cache.min_free_percent = next.cache.min_free_percent;
  config_.config.cache.max_age_s = next.cache.max_age_s;
  config_.config.daemon.idle_timeout_s = next.daemon.idle_timeout_s;
  config_.config.daemon.busy_poll_us = next.daemon.busy_poll_us;
  config_.config.daemon.send_timeout_s = next.daemon.send_timeout_s;
  config_.config.daemon.max_encode_seconds = next.daemon.max_encode_seconds;
  config_.config.coordinate = next.coordinate;
  ApplyCoordinateLimits();  // a larger slot grants waiting acquires at once
  log::Info("reload: opus " + VariantTag(next.opus.params) + ", max_entries " +
            std::to_string(next.cache.max_entries));
  systemd_.Reloaded();
}

}  // namespace ttscache
