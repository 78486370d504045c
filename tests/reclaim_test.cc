// reclaim_test.cc — stray::reclaim_leaked and STRAY_RECLAIM=1: leaked
// goroutines unwind with goroutine_leaked, their destructors run once, and
// they end (the suite's leak listener checks after each test that the
// goroutines a test made are gone, so every test here that does not say
// it leaves goroutines also checks that the reclaimed ones exited).
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "leak_test.h"
#include "runtime/heap.h"

namespace {

using stray::rt::WaitReason;

// Counts its destructions; done() on its WaitGroup when destroyed, so a
// test can wait for a closure's captures to be gone.
struct Tracked {
  std::atomic<int>* destroyed;
  stray::WaitGroup* wg;
  Tracked(std::atomic<int>* d, stray::WaitGroup* w) : destroyed(d), wg(w) { wg->add(1); }
  Tracked(Tracked&& o) noexcept : destroyed(std::exchange(o.destroyed, nullptr)), wg(o.wg) {}
  Tracked(const Tracked&) = delete;
  ~Tracked() {
    if (!destroyed) return;
    destroyed->fetch_add(1);
    wg->done();
  }
};

bool has(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// Blocks for good receiving on a channel only it holds. Reclaimed, it sends
// goroutine_leaked's what() on `what` and lets the exception unwind on.
void leak_telling(const stray::Chan<std::string>& what) {
  try {
    (void)stray::make_chan<int>().recv();
  } catch (const stray::goroutine_leaked& e) {
    what.send(e.what());
    throw;
  }
}

// Tests that count exact verdicts need the heap attributed: without the
// index (sanitizer builds) every heap block is a root — a Mutex made with
// make_shared, and stale handles in freed blocks (ASan's quarantine keeps
// them) keep goroutines reachable.
#define SKIP_WITHOUT_HEAP_INDEX()    \
  if (!stray::rt::heap::active())    \
  GTEST_SKIP() << "no heap index (sanitizer build or STRAY_HEAP_TRACKING=0): the heap is a root"

TEST(Reclaim, AGoroutineBlockedOnAChannelUnwindsAndEnds) {
  std::atomic<int> destroyed{0};
  stray::WaitGroup wg;
  auto what = stray::make_chan<std::string>(1);
  stray::test::on_goroutine([&] {
    stray::go([what, t = Tracked(&destroyed, &wg)] {
      Tracked inner(t.destroyed, t.wg);
      leak_telling(what);
    });
  });
  stray::test::wait_until_waiting(1, WaitReason::chan_receive);
  EXPECT_EQ(stray::pprof::detect_leaks().size(), 1u);
  EXPECT_EQ(stray::reclaim_leaked(), 1);
  std::string w = *what.recv();
  EXPECT_TRUE(has(w, "leaked in [chan receive] and was reclaimed")) << w;
  wg.wait();
  EXPECT_EQ(destroyed.load(), 2) << "the frame's object and the closure's capture, once each";
  EXPECT_EQ(stray::reclaim_leaked(), 0) << "nothing is left to reclaim";
}

// A holds a Mutex and waits on a channel nobody has; B waits on the Mutex.
// Both leak together. A is resumed at once; B only when A's unwinding
// releases the Mutex, then B takes it, gives it back and unwinds.
TEST(Reclaim, AGroupLeakedTogetherUnwindsAsAGroup) {
  SKIP_WITHOUT_HEAP_INDEX();
  std::atomic<int> destroyed{0};
  stray::WaitGroup wg;
  auto what = stray::make_chan<std::string>(2);
  stray::test::on_goroutine([&] {
    auto m = std::make_shared<stray::Mutex>();
    auto locked = stray::make_chan<int>();
    stray::go([m, locked, what, t = Tracked(&destroyed, &wg)] {
      std::lock_guard<stray::Mutex> hold(*m);
      locked.send(1);
      leak_telling(what);
    });
    (void)locked.recv();
    stray::go([m, what, t = Tracked(&destroyed, &wg)] {
      try {
        std::lock_guard<stray::Mutex> wait(*m);
      } catch (const stray::goroutine_leaked& e) {
        what.send(e.what());
        throw;
      }
    });
  });
  stray::test::wait_until_waiting(1, WaitReason::sync_mutex_lock);
  EXPECT_EQ(stray::pprof::detect_leaks().size(), 2u);
  EXPECT_EQ(stray::reclaim_leaked(), 2);
  std::string first = *what.recv(), second = *what.recv();
  EXPECT_TRUE(has(first, "[chan receive]")) << first << "\nA goes first: B waits for A's Mutex";
  EXPECT_TRUE(has(second, "[sync.Mutex.Lock]")) << second;
  wg.wait();
  EXPECT_EQ(destroyed.load(), 2);
}

// A goroutine that catches goroutine_leaked and blocks for good again is
// found by the next pass and reclaimed again.
TEST(Reclaim, AGoroutineThatSwallowsItIsFoundAgain) {
  SKIP_WITHOUT_HEAP_INDEX();
  stray::WaitGroup wg;
  std::atomic<int> destroyed{0};
  auto caught = stray::make_chan<int>(2);
  stray::test::on_goroutine([&] {
    stray::go([caught, t = Tracked(&destroyed, &wg)] {
      for (int i = 0; i < 2; i++) {
        try {
          (void)stray::make_chan<int>().recv();
        } catch (const stray::goroutine_leaked&) {
          caught.send(i);
        }
      }
    });
  });
  for (int i = 0; i < 2; i++) {
    stray::test::wait_until_waiting(1, WaitReason::chan_receive);
    EXPECT_EQ(stray::pprof::detect_leaks().size(), 1u);
    EXPECT_EQ(stray::reclaim_leaked(), 1);
    EXPECT_EQ(*caught.recv(), i);
  }
  wg.wait();
  EXPECT_EQ(destroyed.load(), 1);
}

// Reclaim touches only what a pass proved leaked: a goroutine blocked on a
// channel a global keeps is left alone and later completes normally.
TEST(Reclaim, NothingReachableIsReclaimed) {
  static stray::Chan<int> kept = stray::make_chan<int>();
  auto got = stray::make_chan<int>(1);
  stray::WaitGroup wg;
  wg.go([got] {
    try {
      got.send(*kept.recv());
    } catch (const stray::goroutine_leaked&) {
      got.send(-1);
    }
  });
  stray::test::wait_until_waiting(1, WaitReason::chan_receive);
  EXPECT_EQ(stray::pprof::detect_leaks().size(), 0u);
  EXPECT_EQ(stray::reclaim_leaked(), 0);
  kept.send(7);
  EXPECT_EQ(*got.recv(), 7);
  wg.wait();
}

long rss_kib() {
  std::ifstream f("/proc/self/statm");
  long pages = 0, resident = 0;
  f >> pages >> resident;
  return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

// A server that leaks one goroutine per request, each holding a 64 KiB
// buffer: with a reclaim after every pass, goroutines and memory stay flat.
TEST(Reclaim, AServerLeakingPerRequestStaysFlat) {
  SKIP_WITHOUT_HEAP_INDEX();
  constexpr int kRequests = 100000, kPerPass = 1000;
  std::atomic<int> destroyed{0};
  int base = stray::num_goroutine();
  long rss_early = 0;
  for (int r = 0; r < kRequests; r += kPerPass) {
    stray::WaitGroup batch;
    stray::test::on_goroutine([&] {
      for (int i = 0; i < kPerPass; i++) {
        stray::go([buf = std::vector<char>(64 << 10, 1), t = Tracked(&destroyed, &batch)] {
          (void)stray::make_chan<int>().recv();  // the handler forgets its reply channel
        });
      }
    });
    stray::test::wait_until_waiting(kPerPass, WaitReason::chan_receive);
    ASSERT_LE(stray::num_goroutine(), base + kPerPass + 1) << "after " << r << " requests";
    (void)stray::pprof::detect_leaks();
    ASSERT_EQ(stray::reclaim_leaked(), kPerPass);
    batch.wait();  // every closure of the batch destroyed
    if (r == 10 * kPerPass) rss_early = rss_kib();
  }
  EXPECT_EQ(destroyed.load(), kRequests) << "each buffer's owner destroyed exactly once";
  long rss_late = rss_kib();
  EXPECT_LT(rss_late, rss_early + 64 * 1024) << "KiB resident after 10k requests: " << rss_early << ", after 100k: "
                                             << rss_late;
}

// ---- STRAY_RECLAIM=1, in a child process (options are read at start) ----

constexpr const char* kChildEnv = "STRAY_RECLAIM_TEST_CHILD";

struct ReclaimsAfterEveryPass : ::testing::Test {
  void TestBody() override {
    auto what = stray::make_chan<std::string>(1);
    stray::test::on_goroutine([what] {
      stray::go(leak_telling, what);
    });
    stray::test::wait_until_waiting(1, WaitReason::chan_receive);
    EXPECT_EQ(stray::pprof::lookup("goroutineleak")->count(), 1);
    printf("child got: %s\n", what.recv()->c_str());
  }
};

[[maybe_unused]] const bool child_registered = [] {
  if (!getenv(kChildEnv)) return false;
  ::testing::RegisterTest("ReclaimChild", "AfterEveryPass", nullptr, nullptr, __FILE__, __LINE__,
                          []() -> ::testing::Test* { return new ReclaimsAfterEveryPass; });
  return true;
}();

TEST(Reclaim, TheOptionReclaimsAfterEveryPass) {
  STRAY_SKIP_WITHOUT_REEXEC();
  stray::test::CommandRun r =
      stray::test::run_self(std::string("STRAY_RECLAIM=1 ") + kChildEnv + "=1", "ReclaimChild.AfterEveryPass");
  const std::string& out = r.out;
  EXPECT_EQ(r.exit_status, 0) << out;
  EXPECT_TRUE(has(out, "child got: goroutine ")) << out;
  EXPECT_TRUE(has(out, " leaked in [chan receive] and was reclaimed\n")) << out;
}

}  // namespace
