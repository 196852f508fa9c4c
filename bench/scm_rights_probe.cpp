// What passing a descriptor costs (docs/benchmarks.md): a two-process
// socketpair ping-pong with and without an SCM_RIGHTS descriptor on each
// request, and dup + mmap + munmap + close of a small file in one process.
// Usage: scm_rights_probe   (writes /tmp/scm_rights_probe.bin)
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <chrono>
#include <cstdio>
#include <cstring>
using Clock = std::chrono::steady_clock;
int main() {
  int f = open("/tmp/scm_rights_probe.bin", O_RDWR | O_CREAT | O_TRUNC, 0600);
  char buf[2048] = {1};
  if (write(f, buf, sizeof buf) != sizeof buf) return 1;
  const int N = 100000;
  auto t0 = Clock::now();
  for (int i = 0; i < N; ++i) {
    int d = fcntl(f, F_DUPFD_CLOEXEC, 0);
    void* p = mmap(nullptr, 2048, PROT_READ, MAP_SHARED, d, 0);
    munmap(p, 2048);
    close(d);
  }
  auto t1 = Clock::now();
  std::printf("dup+mmap+munmap+close: %.2f us\n",
              std::chrono::duration<double, std::micro>(t1 - t0).count() / N);
  // ping-pong with and without SCM_RIGHTS
  for (int withfd = 0; withfd < 2; ++withfd) {
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    pid_t c = fork();
    if (c == 0) {
      close(sv[0]);
      char b[64];
      for (;;) {
        msghdr m{};
        iovec io{b, sizeof b};
        m.msg_iov = &io;
        m.msg_iovlen = 1;
        alignas(cmsghdr) char ctl[CMSG_SPACE(sizeof(int))];
        m.msg_control = ctl;
        m.msg_controllen = sizeof ctl;
        ssize_t n = recvmsg(sv[1], &m, 0);
        if (n <= 0) _exit(0);
        if (m.msg_controllen) {
          int got;
          memcpy(&got, CMSG_DATA(CMSG_FIRSTHDR(&m)), sizeof got);
          close(got);
        }
        if (write(sv[1], b, 1) != 1) _exit(1);
      }
    }
    close(sv[1]);
    const int M = 20000;
    auto a = Clock::now();
    for (int i = 0; i < M; ++i) {
      char b = 'x';
      msghdr m{};
      iovec io{&b, 1};
      m.msg_iov = &io;
      m.msg_iovlen = 1;
      alignas(cmsghdr) char ctl[CMSG_SPACE(sizeof(int))];
      if (withfd) {
        m.msg_control = ctl;
        m.msg_controllen = sizeof ctl;
        cmsghdr* h = CMSG_FIRSTHDR(&m);
        h->cmsg_level = SOL_SOCKET;
        h->cmsg_type = SCM_RIGHTS;
        h->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(h), &f, sizeof f);
      }
      if (sendmsg(sv[0], &m, 0) != 1) return 1;
      if (read(sv[0], &b, 1) != 1) return 1;
    }
    auto z = Clock::now();
    std::printf("ping-pong %s fd: %.2f us\n", withfd ? "with" : "without",
                std::chrono::duration<double, std::micro>(z - a).count() / M);
    close(sv[0]);
    waitpid(c, nullptr, 0);
  }
}
