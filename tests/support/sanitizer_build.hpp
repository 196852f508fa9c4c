// Test support: whether this test program was built under a sanitizer
// (AddressSanitizer + UBSan with gcc or clang, or ThreadSanitizer with clang).
// Tests use it to skip what a sanitizer's shadow memory cannot run (a tight
// RLIMIT_AS) and to scale down repetitions that only add more of the same
// rounds: a sanitizer tree runs each round 2–4 times slower, and CI runs the
// full count once, in the release tree. Compile-time only; no state.
#pragma once

namespace ttscache::testing {

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr bool kSanitizerBuild = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
inline constexpr bool kSanitizerBuild = true;
#else
inline constexpr bool kSanitizerBuild = false;
#endif
#else
inline constexpr bool kSanitizerBuild = false;
#endif

// `release` in a plain build, `sanitized` under a sanitizer.
constexpr int ForSanitizer(int release, int sanitized) {
  return kSanitizerBuild ? sanitized : release;
}

}  // namespace ttscache::testing
