// debug_server_test.cc — the /debug/pprof server driven by a real HTTP
// client (cpp-httplib's), including `go tool pprof` on its protobuf answer
// and a concurrent load while goroutines come, go and leak.
#include <httplib.h>
#include <unistd.h>

#include <cstdio>
#include <mutex>
#include <thread>

#include "leak_test.h"
#include "test_util.h"

namespace {

using namespace stray;
using rt::WaitReason;
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
  on_goroutine([] { leak_receivers(3); });
  wait_until_waiting(3, WaitReason::chan_receive);
  auto res = client().Get("/debug/pprof/");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->get_header_value("Content-Type"), "text/html; charset=utf-8");
  EXPECT_NE(res->body.find("<tr><td>3</td><td><a href='goroutine?debug=1'>goroutine</a></td></tr>"),
            std::string::npos)
      << res->body;
  EXPECT_NE(res->body.find("<tr><td>3</td><td><a href='goroutineleak?debug=1'>goroutineleak</a></td></tr>"),
            std::string::npos)
      << res->body;
  auto redirect = client().Get("/debug/pprof");
  ASSERT_TRUE(redirect);
  EXPECT_EQ(redirect->status, 302);
  EXPECT_EQ(redirect->get_header_value("Location"), "/debug/pprof/");
}

TEST_F(DebugServerTest, TextProfiles) {
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
  on_goroutine([] { leak_receivers(4); });
  wait_until_waiting(4, WaitReason::chan_receive);
  auto res = client().Get("/debug/pprof/goroutineleak");  // debug=0 is the default, as in Go
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->get_header_value("Content-Type"), "application/octet-stream");
  EXPECT_EQ(res->get_header_value("Content-Disposition"), "attachment; filename=\"goroutineleak\"");
  // Straight from the server, as users run it.
  std::string out = stray::test::run("HOME=/tmp PPROF_TMPDIR=/tmp go tool pprof -raw http://" + server_.address() +
                                     "/debug/pprof/goroutineleak?debug=0");
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
  auto r = httplib::Client("127.0.0.1", std::stoi(addr.substr(addr.rfind(':') + 1))).Get("/debug/pprof/");
  EXPECT_FALSE(r);  // nobody listens any more
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
        if (ok && strstr(path, "debug=1")) ok = r->body.find(" profile: total ") != std::string::npos;
        if (ok && strstr(path, "debug=2")) ok = r->body.empty() || r->body.rfind("goroutine ", 0) == 0;
        if (ok && strstr(path, "debug=0")) ok = r->body.size() > 2 && uint8_t(r->body[0]) == 0x1f;
        if (ok && path[13] == 0) ok = r->body.find("</html>") != std::string::npos;
        if (!ok && bad++ == 0) {
          std::lock_guard<std::mutex> g(why_mu);
          why = std::string(path) + ": " +
                (r ? std::to_string(r->status) + " " + r->body.substr(0, 200) : "error " + httplib::to_string(r.error()));
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
  for (const auto& g : leaks) EXPECT_NE(g.stack.back().function.find("leak_receivers"), std::string::npos);
}

}  // namespace
