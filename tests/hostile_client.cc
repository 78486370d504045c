// hostile_client.cc — a misbehaving HTTP client for debug_server_test, run
// as a separate process so that its sockets are not the test's (nor its
// threads the runtime's): it holds N connections to 127.0.0.1:PORT open.
//
//   hostile_client PORT idle N INTERVAL_MS
//     connects N times and sends nothing;
//   hostile_client PORT slowloris N INTERVAL_MS
//     connects N times, sends a request line, then one more byte of a never
//     ending header on each connection every INTERVAL_MS.
//
// Every INTERVAL_MS (0: never) it also reopens the connections the server
// closed, as attack tools do, so N stay open for as long as the server lets
// them. It prints "ready" on stdout once the first N connect()s returned
// (the kernel completed them; the server may not have accepted them yet),
// and exits when its stdin reaches end of file — the test closes the pipe,
// or dies — or after kMaxLifetime at the latest. On exit it prints to
// stderr how many connections it reopened.
//
// Invariant: fds[i] is an open socket or -1 (closed by the server, to be
// reopened at the next tick).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

constexpr auto kMaxLifetime = std::chrono::minutes(5);
constexpr char kRequestLine[] = "GET /debug/pprof/ HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Trickle: ";

int port;
bool slowloris;

int open_connection() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    perror("hostile_client: socket");
    exit(1);
  }
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(uint16_t(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    perror("hostile_client: connect");
    exit(1);
  }
  // A refused write only means the server closed it already; the next
  // poll sees that.
  if (slowloris) (void)send(fd, kRequestLine, sizeof kRequestLine - 1, MSG_NOSIGNAL);
  return fd;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: hostile_client PORT idle|slowloris N INTERVAL_MS\n");
    return 2;
  }
  port = atoi(argv[1]);
  slowloris = strcmp(argv[2], "slowloris") == 0;
  int n = atoi(argv[3]);
  int interval_ms = atoi(argv[4]);
  // The parent may run with a lowered descriptor limit (the test of the
  // host's own open()); the attacker is not bound by it.
  rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  if (rl.rlim_cur < rlim_t(n) + 16) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  std::vector<int> fds(n);
  for (int& fd : fds) fd = open_connection();
  printf("ready\n");
  fflush(stdout);

  auto end = std::chrono::steady_clock::now() + kMaxLifetime;
  auto tick = std::chrono::steady_clock::now() + std::chrono::milliseconds(interval_ms);
  long reopened = 0;
  std::vector<pollfd> pfds;
  std::vector<int> which;  // pfds[k + 1] polls fds[which[k]]
  char buf[4096];
  for (;;) {
    auto now = std::chrono::steady_clock::now();
    if (now >= end) break;
    if (interval_ms > 0 && now >= tick) {
      for (int& fd : fds) {
        if (fd < 0) {
          fd = open_connection();
          reopened++;
        } else if (slowloris) {
          (void)send(fd, "x", 1, MSG_NOSIGNAL);
        }
      }
      tick = now + std::chrono::milliseconds(interval_ms);
    }
    pfds.assign(1, pollfd{STDIN_FILENO, POLLIN, 0});
    which.clear();
    for (int i = 0; i < n; i++)
      if (fds[i] >= 0) {
        pfds.push_back(pollfd{fds[i], POLLIN, 0});
        which.push_back(i);
      }
    auto until = interval_ms > 0 ? std::min(tick, end) : end;
    int timeout =
        int(std::chrono::duration_cast<std::chrono::milliseconds>(until - now).count()) + 1;
    if (poll(pfds.data(), pfds.size(), timeout) < 0 && errno != EINTR) {
      perror("hostile_client: poll");
      return 1;
    }
    if (pfds[0].revents) break;  // stdin: end of file (or data: also the end)
    for (std::size_t k = 0; k < which.size(); k++) {
      if (!pfds[k + 1].revents) continue;
      int& fd = fds[which[k]];
      ssize_t r = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
      if (r > 0 || (r < 0 && (errno == EAGAIN || errno == EINTR)))
        continue;  // an answer: read on to the end
      close(fd);
      fd = -1;
    }
  }
  fprintf(stderr, "hostile_client: %s %d: reopened %ld\n", argv[2], n, reopened);
  return 0;
}
