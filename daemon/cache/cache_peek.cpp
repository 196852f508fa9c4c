// CacheStore::Peek: the tier's writer reads what it was offered through this,
// not through Get, so that writing an entry to the fleet counts no hit and
// leaves the LRU order as the clients made it. The file is opened as Get and
// GetVariant open it (under the mutex, checked, kept descriptors reused), so
// an eviction cannot unlink it between lookup and open.
#include "core/audio/opus_params.hpp"
#include "core/log.hpp"
#include "daemon/cache/cache_store.hpp"
#include "daemon/cache/cache_store_internal.hpp"

namespace ttscache {

Result<std::optional<CachedFile>> CacheStore::Peek(std::string_view engine, const CacheKey& key,
                                                   const OpusParams* variant) {
  if (variant) {
    if (Status valid = Validate(*variant); !valid) return valid.error();
  }
  Result<EngineRef> owner = state_->ParseEngine(engine);
  if (!owner) return owner.error();
  MutexLock lock(state_->mutex);
  if (state_->closed) return MakeError(Errc::kInternal, "cache is closed");
  const std::optional<uint16_t> voice = state_->VoiceIdLocked(*owner);
  if (!voice) return std::optional<CachedFile>();
  const std::optional<uint32_t> slot = state_->index().Find(owner->engine, key, *voice);
  if (!slot) return std::optional<CachedFile>();
  if (!variant) return state_->OpenWavLocked(*slot);
  CacheIndex& idx = state_->index();
  const int v = idx.FindVariant(*slot, *variant);
  if (v < 0) return std::optional<CachedFile>();
  Result<CachedFile> file =
      state_->OpenKeptLocked(OpenFileCache::VariantKey(*slot, v), owner->folder(),
                             VariantFileName(key, *variant), idx.entry(*slot).variants[v].bytes, 0);
  if (file) return std::optional<CachedFile>(std::move(*file));
  // Gone or not ours: GetVariant drops it on the next request for it; here
  // it is simply not written.
  if (file.error().code == Errc::kNotFound) return std::optional<CachedFile>();
  return file.error();
}

}  // namespace ttscache
