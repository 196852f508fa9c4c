// Why a put at 1M entries waits (docs/benchmarks.md): evicting the least
// recently used entry unlinks a file whose metadata is no longer cached.
// This fills FOLDER with N files (random 68-character names, as cache keys
// are), drops the kernel's caches (root only; otherwise says so), and unlinks
// BATCH of them in creation order — the LRU order — from 1, 4 and 16 threads.
// If unlinks overlapped, a pool of background removers could hide the wait;
// one folder's unlinks take its lock, so they do not.
// Usage: unlink_probe FOLDER N BATCH   (removes every file it made)
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: unlink_probe FOLDER N BATCH\n");
    return 2;
  }
  const int folder = ::open(argv[1], O_DIRECTORY | O_RDONLY | O_CLOEXEC);
  const size_t n = std::strtoul(argv[2], nullptr, 10);
  const size_t batch = std::strtoul(argv[3], nullptr, 10);
  if (folder < 0 || batch * 3 > n) {
    std::fprintf(stderr, "need a folder and N >= 3 * BATCH\n");
    return 2;
  }
  std::mt19937_64 rng(7);
  std::vector<std::string> names;
  const char bytes[244] = {1};
  for (size_t i = 0; i < n; ++i) {
    char name[80];
    std::snprintf(name, sizeof(name), "%016llx%016llx%016llx%016llx.wav",
                  static_cast<unsigned long long>(rng()), static_cast<unsigned long long>(rng()),
                  static_cast<unsigned long long>(rng()), static_cast<unsigned long long>(rng()));
    names.emplace_back(name);
    const int fd = ::openat(folder, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || ::write(fd, bytes, sizeof(bytes)) != sizeof(bytes)) return 1;
    ::close(fd);
  }
  size_t next = 0;
  for (int threads : {1, 4, 16}) {
    ::sync();
    std::ofstream drop("/proc/sys/vm/drop_caches");
    drop << "3\n";
    drop.close();
    if (!drop) std::printf("(caches not dropped: not root)\n");
    std::atomic<size_t> index{next};
    const size_t end = next + batch;
    const auto start = std::chrono::steady_clock::now();
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([&] {
        for (size_t i; (i = index++) < end;) ::unlinkat(folder, names[i].c_str(), 0);
      });
    }
    for (auto& t : pool) t.join();
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("%2d threads: %zu cold unlinks, %.0f us each\n", threads, batch,
                seconds * 1e6 / static_cast<double>(batch));
    next = end;
  }
  for (const std::string& name : names) ::unlinkat(folder, name.c_str(), 0);
  return 0;
}
