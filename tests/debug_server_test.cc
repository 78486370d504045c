// debug_server_test.cc — the /debug/pprof server driven by a real HTTP
// client (cpp-httplib's), including `go tool pprof` on its protobuf answer
// and a concurrent load while goroutines come, go and leak; then under
// attack: clients that trickle their head or send nothing, held open by a
// separate process (hostile_client), more connections than the cap, and a
// host with few file descriptors.
#include <arpa/inet.h>
#include <fcntl.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <mutex>
#include <thread>

#include "leak_test.h"
#include "test_util.h"

namespace {

using namespace stray;
using rt::WaitReason;
using stray::test::kLeaks;
using stray::test::leaves_goroutines;
using stray::test::on_goroutine;
using stray::test::wait_until_waiting;

[[gnu::noinline]] void leak_receivers(int n) {
  for (int i = 0; i < n; i++) {
    auto ch = make_chan<int>();
    go([ch] { (void)ch.recv(); });
  }
}

class DebugServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = pprof::serve("127.0.0.1:0");
    ASSERT_TRUE(server_.serving());
    ASSERT_GT(server_.port(), 0);
  }
  httplib::Client client() { return httplib::Client("127.0.0.1", server_.port()); }
  pprof::DebugServer server_;
};

TEST_F(DebugServerTest, IndexListsProfilesWithCounts) {
  leaves_goroutines(kLeaks);
  on_goroutine([] { leak_receivers(3); });
  wait_until_waiting(3, WaitReason::chan_receive);
  auto res = client().Get("/debug/pprof/");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->get_header_value("Content-Type"), "text/html; charset=utf-8");
  EXPECT_NE(res->body.find("<tr><td>3</td><td><a href='goroutine?debug=1'>goroutine</a></td></tr>"),
            std::string::npos)
      << res->body;
  EXPECT_NE(res->body.find(
                "<tr><td>3</td><td><a href='goroutineleak?debug=1'>goroutineleak</a></td></tr>"),
            std::string::npos)
      << res->body;
  auto redirect = client().Get("/debug/pprof");
  ASSERT_TRUE(redirect);
  EXPECT_EQ(redirect->status, 302);
  EXPECT_EQ(redirect->get_header_value("Location"), "/debug/pprof/");
}

TEST_F(DebugServerTest, TextProfiles) {
  leaves_goroutines(kLeaks);
  on_goroutine([] { leak_receivers(2); });
  wait_until_waiting(2, WaitReason::chan_receive);
  auto c = client();
  auto one = c.Get("/debug/pprof/goroutineleak?debug=1");
  ASSERT_TRUE(one);
  EXPECT_EQ(one->status, 200);
  EXPECT_EQ(one->get_header_value("Content-Type"), "text/plain; charset=utf-8");
  EXPECT_EQ(one->body.rfind("goroutineleak profile: total 2\n2 @ 0x", 0), 0u) << one->body;
  EXPECT_NE(one->body.find("leak_receivers"), std::string::npos) << one->body;
  auto two = c.Get("/debug/pprof/goroutine?debug=2");
  ASSERT_TRUE(two);
  EXPECT_EQ(two->status, 200);
  EXPECT_EQ(two->body.rfind("goroutine ", 0), 0u) << two->body;
  EXPECT_NE(two->body.find("[chan receive (leaked)]:\n"), std::string::npos) << two->body;
  auto leak_dump = c.Get("/debug/pprof/goroutineleak?debug=2");
  ASSERT_TRUE(leak_dump);
  EXPECT_EQ(leak_dump->status, 200);
  EXPECT_NE(leak_dump->body.find("(leaked)]:\n"), std::string::npos) << leak_dump->body;
  auto proto = c.Get("/debug/pprof/goroutine?debug=0");
  ASSERT_TRUE(proto);
  EXPECT_EQ(proto->status, 200);
  EXPECT_EQ(proto->get_header_value("Content-Disposition"), "attachment; filename=\"goroutine\"");
  ASSERT_GT(proto->body.size(), 2u);
  EXPECT_EQ(uint8_t(proto->body[0]), 0x1f);  // gzip
}

TEST_F(DebugServerTest, ProtobufReadByGoToolPprof) {
  leaves_goroutines(kLeaks);
  on_goroutine([] { leak_receivers(4); });
  wait_until_waiting(4, WaitReason::chan_receive);
  auto res = client().Get("/debug/pprof/goroutineleak");  // debug=0 is the default, as in Go
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->get_header_value("Content-Type"), "application/octet-stream");
  EXPECT_EQ(res->get_header_value("Content-Disposition"), "attachment; filename=\"goroutineleak\"");
  // Straight from the server, as users run it.
  std::string out = stray::test::run("HOME=/tmp PPROF_TMPDIR=/tmp go tool pprof -raw http://" +
                                     server_.address() + "/debug/pprof/goroutineleak?debug=0");
  EXPECT_NE(out.find("PeriodType: goroutineleak count"), std::string::npos) << out;
  EXPECT_NE(out.find("wait_reason:[chan receive]"), std::string::npos) << out;
  EXPECT_NE(out.find("leak_receivers"), std::string::npos) << out;
}

TEST_F(DebugServerTest, BadRequestsGetAReason) {
  auto c = client();
  auto unknown = c.Get("/debug/pprof/heap");
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 404);
  EXPECT_EQ(unknown->body, "Unknown profile: heap\n");
  for (const char* q : {"?debug=x", "?debug=", "?debug=1x", "?debug=99999999999999999999"}) {
    auto r = c.Get(std::string("/debug/pprof/goroutine") + q);
    ASSERT_TRUE(r) << q;
    EXPECT_EQ(r->status, 400) << q;
    EXPECT_EQ(r->body.rfind("invalid debug parameter", 0), 0u) << q << ": " << r->body;
    EXPECT_EQ(std::count(r->body.begin(), r->body.end(), '\n'), 1) << "one line";
  }
  for (const char* q : {"?debug=3", "?debug=-1"}) {
    auto r = c.Get(std::string("/debug/pprof/goroutineleak") + q);
    ASSERT_TRUE(r) << q;
    EXPECT_EQ(r->status, 400) << q;
    EXPECT_EQ(r->body.rfind("debug parameter out of range", 0), 0u) << r->body;
  }
  EXPECT_THROW(pprof::serve("nonsense"), std::invalid_argument);
  EXPECT_THROW(pprof::serve("127.0.0.1:99999"), std::invalid_argument);
  EXPECT_THROW(pprof::serve(server_.address()), std::runtime_error);  // taken
}

TEST_F(DebugServerTest, StopIsCleanAndIdempotent) {
  std::string addr = server_.address();
  server_.stop();
  EXPECT_FALSE(server_.serving());
  server_.stop();
  auto r = httplib::Client("127.0.0.1", std::stoi(addr.substr(addr.rfind(':') + 1)))
               .Get("/debug/pprof/");
  EXPECT_FALSE(r);                                // nobody listens any more
  pprof::DebugServer again = pprof::serve(addr);  // the port is free again
  EXPECT_TRUE(again.serving());
}

// 10,000 requests from 4 threads while goroutines are created, finish and
// leak: every answer well-formed, nothing crashes, no goroutine lost. (Each
// profile request stops the world; the ASan build, ~4x slower, sends 2,000.)
#if defined(__SANITIZE_ADDRESS__)
constexpr int kPerThread = 500;
#else
constexpr int kPerThread = 2500;
#endif

TEST_F(DebugServerTest, ConcurrentRequestsWhileGoroutinesComeAndLeak) {
  leaves_goroutines(kLeaks);
  constexpr int kThreads = 4, kLeakers = 20;
  std::atomic<bool> stop{false};
  std::atomic<int> finished{0}, leakers{0};
  WaitGroup churn;
  churn.go([&] {
    for (int i = 0; !stop.load(); i++) {
      WaitGroup wg;
      for (int k = 0; k < 8; k++) wg.go([&] { finished++; });
      wg.wait();
      if (i < kLeakers) {
        on_goroutine([] { leak_receivers(1); });
        leakers++;
      }
      yield();
    }
  });
  std::atomic<int> bad{0};
  std::mutex why_mu;
  std::string why;  // the first bad answer, for the failure message
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; t++) {
    threads.emplace_back([&, t] {
      httplib::Client c("127.0.0.1", server_.port());
      c.set_read_timeout(120, 0);  // passes queue behind each other
      const char* paths[] = {"/debug/pprof/goroutine?debug=1", "/debug/pprof/goroutineleak?debug=1",
                             "/debug/pprof/goroutine?debug=2", "/debug/pprof/goroutineleak?debug=0",
                             "/debug/pprof/"};
      for (int i = 0; i < kPerThread; i++) {
        const char* path = paths[(i + t) % 5];
        auto r = c.Get(path);
        bool ok = r && r->status == 200;
        if (ok && strstr(path, "debug=1"))
          ok = r->body.find(" profile: total ") != std::string::npos;
        if (ok && strstr(path, "debug=2"))
          ok = r->body.empty() || r->body.rfind("goroutine ", 0) == 0;
        if (ok && strstr(path, "debug=0")) ok = r->body.size() > 2 && uint8_t(r->body[0]) == 0x1f;
        if (ok && path[13] == 0) ok = r->body.find("</html>") != std::string::npos;
        if (!ok && bad++ == 0) {
          std::lock_guard<std::mutex> g(why_mu);
          why = std::string(path) + ": " +
                (r ? std::to_string(r->status) + " " + r->body.substr(0, 200)
                   : "error " + httplib::to_string(r.error()));
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  stop = true;
  churn.wait();
  EXPECT_EQ(bad.load(), 0) << why;
  EXPECT_GT(finished.load(), 0);
  // No goroutine lost or stuck: the only ones left are the leaked
  // receivers, all blocked, and the pass reports no other. (The churn's
  // goroutines may still be on their way out after their last done().)
  while (num_goroutine() > leakers.load()) std::this_thread::yield();
  EXPECT_EQ(num_goroutine(), leakers.load());
  wait_until_waiting(leakers.load(), WaitReason::chan_receive);
  auto leaks = pprof::detect_leaks();
  EXPECT_LE(int(leaks.size()), leakers.load());
  for (const auto& g : leaks)
    EXPECT_NE(g.stack.back().function.find("leak_receivers"), std::string::npos);
}

// ---- Under attack ----

// A blocking socket connected to the server on 127.0.0.1.
int dial(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(uint16_t(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd >= 0 && connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// Waits (up to timeout_ms for each read) for the server to end the
// connection, appending what it sends meanwhile to *got; true if it did
// (end of file or reset).
bool closed_by_server(int fd, std::string* got = nullptr, int timeout_ms = 60000) {
  char buf[4096];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    int r = poll(&p, 1, timeout_ms);
    if (r < 0 && errno == EINTR) continue;  // a leak pass stopped this thread
    if (r <= 0) return false;
    ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0 && got) got->append(buf, std::size_t(n));
    if (n == 0 || (n < 0 && errno == ECONNRESET)) return true;
    if (n < 0 && errno != EAGAIN && errno != EINTR) return false;
  }
}

// Sends raw bytes as one request; the whole answer, up to the server's
// close ("" if it did not close within 60 s).
std::string raw_request(int port, const std::string& request) {
  int fd = dial(port);
  if (fd < 0) return "";
  std::string got;
  bool ok = send(fd, request.data(), request.size(), MSG_NOSIGNAL) == ssize_t(request.size()) &&
            closed_by_server(fd, &got);
  close(fd);
  return ok ? got : "";
}

// hostile_client in a child process, holding `n` connections (see its
// header); gone when this object is.
class Hostile {
 public:
  Hostile(int port, const char* mode, int n, int interval_ms) {
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) != 0) return;
    if (pipe2(out, O_CLOEXEC) != 0) {
      close(in[0]);
      close(in[1]);
      return;
    }
    to_child_ = in[1];
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], STDIN_FILENO);
    posix_spawn_file_actions_adddup2(&fa, out[1], STDOUT_FILENO);
    std::string args[] = {STRAY_HOSTILE_CLIENT, std::to_string(port), mode, std::to_string(n),
                          std::to_string(interval_ms)};
    char* argv[] = {args[0].data(), args[1].data(), args[2].data(),
                    args[3].data(), args[4].data(), nullptr};
    if (posix_spawn(&pid_, STRAY_HOSTILE_CLIENT, &fa, nullptr, argv, environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&fa);
    close(in[0]);
    close(out[1]);
    // Its "ready": all n connect()s returned, so the server will accept
    // every one of them before any connection this process makes later.
    // (It exits if a connect() fails: the pipe ends.)
    char line[6];
    std::size_t got = 0;
    while (pid_ > 0 && got < sizeof line) {
      ssize_t r = read(out[0], line + got, sizeof line - got);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) break;
      got += std::size_t(r);
    }
    close(out[0]);
    ready_ = std::string_view(line, got) == "ready\n";
  }
  ~Hostile() {
    if (to_child_ >= 0) close(to_child_);  // its stdin ends: it exits
    int status = 0;
    while (pid_ > 0 && waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
  }
  bool ready() const { return ready_; }

 private:
  pid_t pid_ = -1;
  int to_child_ = -1;
  bool ready_ = false;
};

// A normal client, with a generous timeout: its request must be answered.
void expect_answers(int port, int requests) {
  httplib::Client c("127.0.0.1", port);
  c.set_connection_timeout(60, 0);
  c.set_read_timeout(60, 0);
  for (int i = 0; i < requests; i++) {
    auto r = c.Get(i % 2 ? "/debug/pprof/goroutine?debug=1" : "/debug/pprof/");
    ASSERT_TRUE(r) << "request " << i << ": " << httplib::to_string(r.error());
    EXPECT_EQ(r->status, 200) << r->body;
  }
}

// Each client sends a byte of its head every 100 ms, for ever, and opens a
// new connection when the server closes one. (A byte within each recv()
// timeout held one of cpp-httplib's threads for as long as it went on.)
TEST_F(DebugServerTest, AnswersWhileSlowlorisClientsTrickle) {
  Hostile h(server_.port(), "slowloris", 16, 100);
  ASSERT_TRUE(h.ready());
  expect_answers(server_.port(), 10);
}

TEST_F(DebugServerTest, AnswersWhileAThousandConnectionsIdle) {
  Hostile h(server_.port(), "idle", 1000, 0);
  ASSERT_TRUE(h.ready());
  expect_answers(server_.port(), 10);
}

// Seven connections against a cap of four, none sending anything, with a
// header timeout that cannot expire meanwhile: accepting the fifth, sixth
// and seventh closes the three oldest; the newest four stay open until a
// normal request takes the oldest one's place, and stop() closes the rest.
TEST(DebugServerLimits, ConnectionsBeyondTheCapAreClosed) {
  pprof::ServeLimits limits;
  limits.max_connections = 4;
  limits.read_header_timeout = std::chrono::minutes(10);
  pprof::DebugServer server = pprof::serve("127.0.0.1:0", limits);
  std::vector<int> fds;
  for (int i = 0; i < 7; i++) {
    fds.push_back(dial(server.port()));
    ASSERT_GE(fds.back(), 0) << i;
  }
  for (int i = 0; i < 3; i++) EXPECT_TRUE(closed_by_server(fds[i])) << i;
  auto still_open = [&](int i) {
    pollfd p{fds[i], POLLIN, 0};
    return poll(&p, 1, 0) == 0;
  };
  for (int i = 3; i < 7; i++) EXPECT_TRUE(still_open(i)) << i;
  expect_answers(server.port(), 1);
  EXPECT_TRUE(closed_by_server(fds[3]));
  for (int i = 4; i < 7; i++) EXPECT_TRUE(still_open(i)) << i;
  server.stop();
  for (int i = 4; i < 7; i++) EXPECT_TRUE(closed_by_server(fds[i])) << i;
  for (int fd : fds) close(fd);
}

// A client that keeps its head coming, a byte every 20 ms, is closed at the
// header deadline, unanswered. (The client gives up after 1,500 bytes, 30 s;
// the head never reaches max_header_bytes.)
TEST(DebugServerLimits, TricklingClientIsDisconnected) {
  pprof::ServeLimits limits;
  limits.read_header_timeout = std::chrono::milliseconds(300);
  pprof::DebugServer server = pprof::serve("127.0.0.1:0", limits);
  int fd = dial(server.port());
  std::string head = "GET /debug/pprof/ HTTP/1.1\r\nX-Trickle: ";
  ASSERT_EQ(send(fd, head.data(), head.size(), MSG_NOSIGNAL), ssize_t(head.size()));
  std::string got;
  bool closed = false;
  for (int i = 0; i < 1500 && !closed; i++) {
    closed = closed_by_server(fd, &got, 20);  // the trickle's pace
    if (!closed) (void)send(fd, "x", 1, MSG_NOSIGNAL);
  }
  EXPECT_TRUE(closed);
  EXPECT_EQ(got, "");
  close(fd);
}

TEST_F(DebugServerTest, MalformedRequestsGetAStatus) {
  int port = server_.port();
  std::string big = raw_request(
      port, "GET /debug/pprof/ HTTP/1.1\r\nX-Big: " + std::string(20000, 'a') + "\r\n\r\n");
  EXPECT_EQ(big.rfind("HTTP/1.1 431 Request Header Fields Too Large\r\n", 0), 0u)
      << big.substr(0, 200);
  std::string brew = raw_request(port, "BREW /debug/pprof/ HTTP/1.1\r\n\r\n");
  EXPECT_EQ(brew.rfind("HTTP/1.1 405 Method Not Allowed\r\n", 0), 0u) << brew;
  EXPECT_NE(brew.find("\r\nAllow: GET, HEAD\r\n"), std::string::npos) << brew;
  for (const char* bad :
       {"GET /debug/pprof/\r\n\r\n", "GET  /debug/pprof/ HTTP/1.1\r\n\r\n",
        "GET /debug/pprof/ HTTP/2.0\r\n\r\n", "GET /debug/pprof/%zz HTTP/1.1\r\n\r\n"}) {
    std::string r = raw_request(port, bad);
    EXPECT_EQ(r.rfind("HTTP/1.1 400 Bad Request\r\n", 0), 0u) << bad << ": " << r;
  }
  std::string nowhere = raw_request(port, "GET /elsewhere HTTP/1.1\r\n\r\n");
  EXPECT_EQ(nowhere.rfind("HTTP/1.1 404 Not Found\r\n", 0), 0u) << nowhere;
  // HEAD: the headers GET would get, no body.
  std::string head = raw_request(port, "HEAD /debug/pprof/goroutine?debug=%31 HTTP/1.0\r\n\r\n");
  EXPECT_EQ(head.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << head;
  EXPECT_NE(head.find("\r\nContent-Type: text/plain; charset=utf-8\r\n"), std::string::npos)
      << head;
  EXPECT_NE(head.find("\r\nConnection: close\r\n"), std::string::npos) << head;
  EXPECT_EQ(head.find("\r\n\r\n"), head.size() - 4) << head;
  // Bare line feeds, an absolute target: as Go takes them.
  std::string lf =
      raw_request(port, "GET http://127.0.0.1/debug/pprof/goroutine?debug=1 HTTP/1.1\n\n");
  EXPECT_EQ(lf.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << lf;
  EXPECT_NE(lf.find("goroutine profile: total "), std::string::npos) << lf;
  EXPECT_THROW(pprof::serve("127.0.0.1:0", pprof::ServeLimits{.max_connections = 0}),
               std::invalid_argument);
}

// A host process whose descriptor limit is low (256) keeps its own open()
// working while a thousand idle connections are made to its server: the
// server holds at most max_connections (64) of them. (In a child process:
// the limit is the process's.)
[[noreturn]] void host_with_few_descriptors() {
  rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = 256;
  setrlimit(RLIMIT_NOFILE, &rl);
  pprof::DebugServer server = pprof::serve("127.0.0.1:0");
  Hostile h(server.port(), "idle", 1000, 0);
  if (!h.ready()) {
    fprintf(stderr, "hostile_client did not start\n");
    _exit(1);
  }
  // Accepted after the thousand: once answered, the server has seen them all.
  httplib::Client c("127.0.0.1", server.port());
  c.set_read_timeout(60, 0);
  auto r = c.Get("/debug/pprof/");
  if (!r || r->status != 200) {
    fprintf(stderr, "no answer under attack: %s\n",
            r ? std::to_string(r->status).c_str() : "connection failed");
    _exit(1);
  }
  std::vector<int> files;
  for (int i = 0; i < 100; i++) {
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      fprintf(stderr, "the host's open() #%d failed: %s\n", i, strerror(errno));
      _exit(1);
    }
    files.push_back(fd);
  }
  for (int fd : files) close(fd);
  _exit(0);
}

TEST(DebugServerLimits, HostKeepsItsDescriptorsUnderIdleConnections) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(host_with_few_descriptors(), ::testing::ExitedWithCode(0), "");
}

}  // namespace
