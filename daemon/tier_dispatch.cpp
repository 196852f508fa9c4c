// The fleet tier on the loop (docs/fleet.md): the server's side of
// FleetTier. A GET that misses locally is parked on a lookup of its key in
// the fleet's memcached pool (read-through); concurrent misses of one key
// share the lookup. The lookup's thread stores what it found in the
// CacheStore and posts a Completion; the parked GETs are then served again
// as fresh GETs (now local hits, or misses that go on locally: a claim, a
// local encode). A lookup that has not answered by its deadline ([tier]
// timeout_ms) lets its GETs go on as misses: the tier never makes a client
// wait longer than that, and a late answer still stores and fulfils claims.
// Puts and variants stored here are offered to the tier (write-behind) by
// the worker that stored them.
//
// Everything but OfferToTier runs on the loop thread. A parked GET counts in
// its connection's inflight, so kMaxInflightPerConnection bounds them, and a
// connection with one is neither idle nor finished.
#include "core/crc32c.hpp"
#include "core/log.hpp"
#include "daemon/server.hpp"

namespace ttscache {

bool Server::AskTier(Connection& c, uint64_t request, const ipc::GetRequest& get, bool want_wav,
                     uint64_t generation, const OpusParams& params, int64_t deadline_ms) {
  if (!tier_) return false;
  const int64_t now = NowMs();
  if (deadline_ms != 0 && deadline_ms <= now) return false;  // its time with the tier is spent
  const TierSettings& settings = config_.config.tier;
  const bool opus = get.format == ipc::AudioFormat::kOpus;
  // A WAV missing here is asked for only when WAVs are shared (a variant
  // alone is no use without its WAV); a variant alone only when variants are.
  if (want_wav ? !settings.share_wav : !(opus && settings.share_opus)) return false;
  // Past its requests in flight, a connection's miss is a plain local miss.
  if (c.inflight >= ipc::kMaxInflightPerConnection) return false;
  Result<std::pair<uint8_t, CacheKey>> resolved = store_->Resolve(get.engine, get.text);
  if (!resolved) return false;  // HandleGet's own lookup reports it
  const std::string entry = ClaimKey(get.engine, resolved->second);
  std::string key = entry;
  if (!want_wav) key += "/" + VariantTag(params);

  TierParkedGet parked{ParkedGet::Of(c.id, request, get)};

  // An Opus GET may join a lookup of the WAV alone, or of another variant:
  // it asks for its own once the WAV is here (ResumeTierGets), rather than
  // encode what the fleet may hold.
  const bool needs_variant = opus && settings.share_opus;
  auto joined = tier_lookups_.find(key);
  if (joined != tier_lookups_.end()) {
    parked.variant_asked = !needs_variant || joined->second.variant_tag == VariantTag(params);
    joined->second.gets.push_back(std::move(parked));
    c.inflight++;
    tier_->CountCoalesced();
    return true;
  }
  TierLookup lookup;
  lookup.engine = std::string(get.engine);
  lookup.text = std::string(get.text);
  lookup.key = resolved->second;
  lookup.want_wav = want_wav;
  lookup.generation = generation;
  if (needs_variant) lookup.variant = params;
  const uint64_t id = next_tier_lookup_++;
  const bool queued =
      tier_->Lookup(std::move(lookup), [this, key, id, entry](TierLookupResult result) {
        Completion done;
        done.tier_lookup = key;
        done.tier_lookup_id = id;
        // A WAV the tier stored is an entry like a put's: it fulfils the
        // claim, whether or not its GETs still wait (DrainCompletions).
        if (result.wav_stored) done.stored_entry = entry;
        Post(std::move(done));
      });
  if (!queued) return false;  // breaker down or queue full: counted by the tier
  TierWait& wait = tier_lookups_[key];
  wait.id = id;
  wait.deadline_ms = deadline_ms != 0 ? deadline_ms : now + settings.timeout_ms;
  if (needs_variant) wait.variant_tag = VariantTag(params);
  wait.gets.push_back(std::move(parked));
  tier_deadlines_.emplace(wait.deadline_ms, key);
  c.inflight++;
  ArmCoordinateTimer();
  return true;
}

void Server::OnTierLookupDone(const Completion& done) {
  auto it = tier_lookups_.find(done.tier_lookup);
  // Gone (its deadline passed) or another lookup of the key since: late,
  // what it stored is cached, nobody waits for it here.
  if (it == tier_lookups_.end() || it->second.id != done.tier_lookup_id) return;
  std::vector<TierParkedGet> gets = std::move(it->second.gets);
  const int64_t deadline_ms = it->second.deadline_ms;
  tier_deadlines_.erase({deadline_ms, it->first});
  tier_lookups_.erase(it);
  ResumeTierGets(gets, /*answered=*/true, deadline_ms);
  ArmCoordinateTimer();
}

void Server::ExpireTierLookups(int64_t now) {
  while (!tier_deadlines_.empty() && tier_deadlines_.begin()->first <= now) {
    const std::string key = tier_deadlines_.begin()->second;
    tier_deadlines_.erase(tier_deadlines_.begin());
    auto it = tier_lookups_.find(key);
    if (it == tier_lookups_.end()) continue;
    std::vector<TierParkedGet> gets = std::move(it->second.gets);
    const int64_t deadline_ms = it->second.deadline_ms;
    tier_lookups_.erase(it);
    // Counted per GET answered at the deadline (docs/protocol.md, STATS).
    if (tier_) {
      for (size_t i = 0; i < gets.size(); ++i) tier_->CountTimeout();
    }
    ResumeTierGets(gets, /*answered=*/false, deadline_ms);
  }
}

void Server::ResumeTierGets(const std::vector<TierParkedGet>& gets, bool answered,
                            int64_t deadline_ms) {
  for (const TierParkedGet& waiting : gets) {
    const ParkedGet& parked = waiting.get;
    auto it = connections_.find(parked.connection);
    if (it == connections_.end()) continue;  // closed: forgotten already
    Connection& c = *it->second;
    c.inflight--;
    if (c.closing) {
      SettleConnection(parked.connection);
      continue;
    }
    // A variant not asked yet is asked now only if the lookup answered in
    // time, and only until that lookup's deadline: the tier never makes a
    // GET wait longer than timeout_ms in all.
    const TierPass pass{waiting.variant_asked || !answered, deadline_ms};
    HandleGet(c, parked.request, parked.Request(), &pass);
    SettleConnection(parked.connection);
  }
}

void Server::ForgetTierGets(uint64_t connection) {
  for (auto& [key, wait] : tier_lookups_) {
    std::erase_if(wait.gets,
                  [connection](const TierParkedGet& g) { return g.get.connection == connection; });
  }
}

void Server::OfferToTier(std::string_view engine, const CacheKey& key, const OpusParams* variant,
                         std::span<const uint8_t> wav) {
  if (!tier_) return;
  if (variant) {
    tier_->OfferVariant(engine, key, *variant, Crc32c(wav));
  } else {
    tier_->OfferWav(engine, key);
  }
}

}  // namespace ttscache
