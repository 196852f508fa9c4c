// TEMPORARY: the rest of CacheStore's operate API (Delete, DeleteKey, Purge,
// List, Verify, VerifyCacheDirectory) answers kUnsupported or nothing here,
// so the daemon's handlers link and their dispatch can be tested while the
// store helpers implement the real ones (branch store-voices). Maintain
// came with store-maint. Reverted when the rest lands.
#include "daemon/cache/cache_store.hpp"

namespace ttscache {
namespace {
Error NotYet(const char* what) {
  return MakeError(Errc::kUnsupported, std::string("CacheStore::") + what + " is not built yet");
}
}  // namespace

Result<DeleteOutcome> CacheStore::Delete(std::string_view, std::string_view) {
  return NotYet("Delete");
}
Result<DeleteOutcome> CacheStore::DeleteKey(std::string_view, const CacheKey&) {
  return NotYet("DeleteKey");
}
Result<PurgeOutcome> CacheStore::Purge(std::string_view) { return NotYet("Purge"); }
Result<ListPage> CacheStore::List(uint64_t, const ListFilter&, uint32_t, uint32_t) const {
  return ListPage{};
}
Result<VerifyReport> CacheStore::Verify(bool) { return VerifyReport{}; }
Result<VerifyReport> VerifyCacheDirectory(const CacheOptions&, bool) {
  return NotYet("VerifyCacheDirectory");
}

}  // namespace ttscache
