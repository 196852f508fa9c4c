// Clang's thread-safety annotations (-Wthread-safety): which mutex guards a
// member (GUARDED_BY), which lock a function needs (REQUIRES) or takes
// (ACQUIRE/RELEASE). Under clang the compiler checks every access against
// them; under gcc they expand to nothing. core/mutex.hpp has the annotated
// mutex they name: libstdc++'s std::mutex carries no annotations, so a member
// guarded by one cannot be checked.
// See https://clang.llvm.org/docs/ThreadSafetyAnalysis.html for the meaning
// of each attribute.
#pragma once

#if defined(__clang__)
#define TTSCACHE_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define TTSCACHE_THREAD_ANNOTATION(x)
#endif

// On a class: it is a lock ("mutex").
#define CAPABILITY(x) TTSCACHE_THREAD_ANNOTATION(capability(x))
// On an RAII class that holds a lock for its lifetime.
#define SCOPED_CAPABILITY TTSCACHE_THREAD_ANNOTATION(scoped_lockable)
// On a member: read or written only with the lock held.
#define GUARDED_BY(x) TTSCACHE_THREAD_ANNOTATION(guarded_by(x))
// On a pointer member: what it points to is read or written only with the lock held.
#define PT_GUARDED_BY(x) TTSCACHE_THREAD_ANNOTATION(pt_guarded_by(x))
// On a lock member: the order in which locks are taken (this one before /
// after the named ones). Documentation under -Wthread-safety; checked only
// with -Wthread-safety-beta.
#define ACQUIRED_BEFORE(...) TTSCACHE_THREAD_ANNOTATION(acquired_before(__VA_ARGS__))
#define ACQUIRED_AFTER(...) TTSCACHE_THREAD_ANNOTATION(acquired_after(__VA_ARGS__))
// On a function: the caller holds the lock(s).
#define REQUIRES(...) TTSCACHE_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
// On a function: the caller must not hold the lock(s) (the function takes them).
#define EXCLUDES(...) TTSCACHE_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
// On a function: it takes / releases the lock(s) (its object when none named).
#define ACQUIRE(...) TTSCACHE_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define RELEASE(...) TTSCACHE_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
// On a function: takes the lock when it returns `true`.
#define TRY_ACQUIRE(...) TTSCACHE_THREAD_ANNOTATION(try_acquire_capability(__VA_ARGS__))
// On a function: it checks at run time that the lock is held; after it, the analysis assumes so.
#define ASSERT_CAPABILITY(x) TTSCACHE_THREAD_ANNOTATION(assert_capability(x))
// On a function the analysis cannot follow; say why next to each use.
#define NO_THREAD_SAFETY_ANALYSIS TTSCACHE_THREAD_ANNOTATION(no_thread_safety_analysis)
