# Finds every external library. A missing one stops CMake with the Debian
# package that provides it (scripts/install-deps.sh installs them all).
find_package(PkgConfig)
if(NOT PkgConfig_FOUND)
  message(FATAL_ERROR "pkg-config not found: apt-get install pkg-config")
endif()

# ttscache_require_pkg(<target-suffix> <pkg-config module> <debian package>)
# defines the imported target PkgConfig::<target-suffix>.
macro(ttscache_require_pkg name module debian_package)
  pkg_check_modules(${name} QUIET IMPORTED_TARGET ${module})
  if(NOT ${name}_FOUND)
    message(FATAL_ERROR "ttscache needs ${module} (pkg-config): apt-get install ${debian_package}")
  endif()
endmacro()

ttscache_require_pkg(OPUS opus libopus-dev)
ttscache_require_pkg(OGG ogg libogg-dev)
ttscache_require_pkg(SOXR soxr libsoxr-dev)
ttscache_require_pkg(INIH inih libinih-dev)
ttscache_require_pkg(SYSTEMD libsystemd libsystemd-dev)
ttscache_require_pkg(ICUUC icu-uc libicu-dev)
ttscache_require_pkg(MEMCACHED libmemcached libmemcached-dev)  # the fleet tier (awesome fork, 1.1)

find_package(OpenSSL 3 QUIET)
if(NOT OpenSSL_FOUND)
  message(FATAL_ERROR "ttscache needs OpenSSL 3 (EVP SHA-256): apt-get install libssl-dev")
endif()

find_package(Boost 1.74 QUIET CONFIG)
if(NOT Boost_FOUND OR NOT EXISTS "${Boost_INCLUDE_DIRS}/boost/interprocess/mapped_region.hpp")
  message(FATAL_ERROR "ttscache needs Boost.Interprocess headers: apt-get install libboost-dev")
endif()

find_package(Threads REQUIRED)

if(TTSCACHE_BUILD_TESTS)
  find_package(GTest QUIET)
  if(NOT GTest_FOUND)
    message(FATAL_ERROR "the tests need GoogleTest: apt-get install libgtest-dev libgmock-dev (or -DTTSCACHE_BUILD_TESTS=OFF)")
  endif()
endif()
if(TTSCACHE_BUILD_BENCH)
  find_package(benchmark QUIET)
  if(NOT benchmark_FOUND)
    message(FATAL_ERROR "the benchmarks need Google Benchmark: apt-get install libbenchmark-dev (or -DTTSCACHE_BUILD_BENCH=OFF)")
  endif()
endif()
