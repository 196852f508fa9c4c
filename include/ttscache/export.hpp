// TTSCACHE_EXPORT marks the C++ API that libttscache.so exports. The library
// is compiled with hidden visibility, so anything not marked stays internal
// (docs/clients.md lists what is public). In the static libraries the mark is
// harmless.
#pragma once

#if defined(__GNUC__)
#define TTSCACHE_EXPORT __attribute__((visibility("default")))
#else
#define TTSCACHE_EXPORT
#endif
