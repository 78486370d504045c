// leak_test.cc — the leak detector against leak-cases.md's micro cases and
// the no-false-positive cases of the issue. Each test runs under 1, 2, 4
// and 8 processors, each in its own process, with the soundness oracle on
// (STRAY_LEAK_ORACLE=1: waking a goroutine reported leaked aborts).
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>

#include <atomic>
#include <cstring>
#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>

#include "leak_test.h"
#include "runtime/stw.h"
#include "test_util.h"

namespace {

using namespace stray;
using stray::test::expect_leaks;
using stray::test::expect_no_leaks;
using stray::test::kLeaks;
using stray::test::leaves_goroutines;
using stray::test::on_goroutine;
using stray::test::Site;
using stray::test::wait_until_waiting;
using rt::WaitReason;

class Leak : public stray::test::ProcsTest {};

// ---- the seed's three leaks, and their fixes ----

std::atomic<int> l_send, l_recv, l_range;

[[gnu::noinline]] void leaky_sender() {
  auto ch = make_chan<int>();
  go([ch] { AT(l_send) ch.send(42); });
}

[[gnu::noinline]] void leaky_receiver() {
  auto ch = make_chan<int>();
  go([ch] { AT(l_recv) (void)ch.recv(); });
}

[[gnu::noinline]] void leaky_range() {
  auto jobs = make_chan<int>(4);
  go([jobs] {
    AT(l_range) for (int j : jobs)(void) j;
  });
  for (int i = 0; i < 3; i++) jobs.send(i);
}

TEST_P(Leak, SeedLeaksReportedOnceWithCreationSite) {
  leaves_goroutines(kLeaks);
  on_goroutine([] {
    leaky_sender();
    leaky_receiver();
    leaky_range();
  });
  wait_until_waiting(1, WaitReason::chan_send);
  wait_until_waiting(2, WaitReason::chan_receive);
  auto leaks = expect_leaks({{"leaky_sender", &l_send, "chan send", 1},
                             {"leaky_receiver", &l_recv, "chan receive", 1},
                             {"leaky_range", &l_range, "chan receive", 1}});
  for (const auto& g : leaks) {
    EXPECT_NE(g.created_by.function.find(g.stack.back().function.substr(0, g.stack.back().function.find("::{"))),
              std::string::npos)
        << stray::test::describe(g);
    EXPECT_NE(g.parent_id, 0u);  // created by on_goroutine's goroutine
  }
  // Still leaked, still reported, by every later pass.
  expect_leaks({{"leaky_sender", &l_send, "chan send", 1},
                {"leaky_receiver", &l_recv, "chan receive", 1},
                {"leaky_range", &l_range, "chan receive", 1}});
  EXPECT_EQ(num_goroutine(), 3);  // leaked goroutines still count
}

[[gnu::noinline]] void fixed_versions() {
  WaitGroup wg;
  auto a = make_chan<int>();
  wg.go([a] { a.send(42); });
  (void)a.recv();
  auto b = make_chan<int>();
  wg.go([b] { (void)b.recv(); });
  b.send(1);
  auto jobs = make_chan<int>(4);
  wg.go([jobs] {
    for (int j : jobs) (void)j;
  });
  for (int i = 0; i < 3; i++) jobs.send(i);
  jobs.close();
  wg.wait();
}

TEST_P(Leak, FixedSeedReportsTotalZero) {
  fixed_versions();
  std::ostringstream out;
  pprof::lookup("goroutineleak")->write_to(out, 1);
  EXPECT_EQ(out.str(), "goroutineleak profile: total 0\n");
  EXPECT_EQ(pprof::lookup("goroutineleak")->count(), 0);
}

// ---- micro cases ----

std::atomic<int> l_nilsend, l_nilrecv, l_selnone, l_select;

[[gnu::noinline]] void nil_channels_and_empty_select() {
  go([] {
    Chan<int> nil;
    AT(l_nilsend) nil.send(1);
  });
  go([] {
    Chan<int> nil;
    AT(l_nilrecv) (void)nil.recv();
  });
  go([] { AT(l_selnone) stray::select(); });
}

TEST_P(Leak, NilChannelsAndEmptySelect) {
  leaves_goroutines(kLeaks);
  on_goroutine(nil_channels_and_empty_select);
  wait_until_waiting(1, WaitReason::chan_send_nil);
  wait_until_waiting(1, WaitReason::chan_receive_nil);
  wait_until_waiting(1, WaitReason::select_no_cases);
  expect_leaks({{"nil_channels_and_empty_select", &l_nilsend, "chan send (nil chan)", 1},
                {"nil_channels_and_empty_select", &l_nilrecv, "chan receive (nil chan)", 1},
                {"nil_channels_and_empty_select", &l_selnone, "select (no cases)", 1}});
}

[[gnu::noinline]] void two_case_select() {
  auto a = make_chan<int>();
  auto b = make_chan<int>();
  go([a, b] { AT(l_select) stray::select(send_case(a, 1, [] {}), recv_case(b, [](std::optional<int>) {})); });
}

TEST_P(Leak, Select) {
  leaves_goroutines(kLeaks);
  on_goroutine(two_case_select);
  wait_until_waiting(1, WaitReason::select);
  expect_leaks({{"two_case_select", &l_select, "select", 1}});
}

std::atomic<int> l_via_a, l_via_b;

[[gnu::noinline]] void block_via_a(Chan<int> c) { AT(l_via_a)(void) c.recv(); }
[[gnu::noinline]] void block_via_b(Chan<int> c) { AT(l_via_b)(void) c.recv(); }

// Parked stacks of one shape — the same depth, parked at the same place,
// through the same entry — that differ in one return address: the pass
// replays a kept walk for a stack only if it would have come out the same
// (traceback.cc), so each goroutine is reported at its own line.
[[gnu::noinline]] void same_shape_other_caller() {
  for (int i = 0; i < 8; i++) {
    auto c = make_chan<int>();
    void (*block)(Chan<int>) = i % 2 ? block_via_b : block_via_a;
    go([c, block] { block(c); });
  }
}

TEST_P(Leak, ReplayedWalksKeepTheirOwnReturnAddresses) {
  leaves_goroutines(kLeaks);
  on_goroutine(same_shape_other_caller);
  wait_until_waiting(8, WaitReason::chan_receive);
  expect_leaks({{"same_shape_other_caller", &l_via_a, "chan receive", 4},
                {"same_shape_other_caller", &l_via_b, "chan receive", 4}});
}

std::atomic<int> l_wg;

[[gnu::noinline]] void wait_group_never_done() {
  go([] {
    WaitGroup wg;
    wg.add(1);
    AT(l_wg) wg.wait();
  });
}

TEST_P(Leak, WaitGroupNeverDone) {
  leaves_goroutines(kLeaks);
  on_goroutine(wait_group_never_done);
  wait_until_waiting(1, WaitReason::sync_waitgroup_wait);
  expect_leaks({{"wait_group_never_done", &l_wg, "sync.WaitGroup.Wait", 1}});
}

std::atomic<int> l_mutex_stack;

[[gnu::noinline]] void mutex_on_own_stack() {
  Mutex mu;
  mu.lock();
  AT(l_mutex_stack) mu.lock();
}

TEST_P(Leak, MutexOnOwnStack) {
  leaves_goroutines(kLeaks);
  constexpr int n = std::min(1000, stray::test::kMaxParked);
  on_goroutine([] {
    for (int i = 0; i < n; i++) go(mutex_on_own_stack);
  });
  wait_until_waiting(n, WaitReason::sync_mutex_lock);
  expect_leaks({{"mutex_on_own_stack", &l_mutex_stack, "sync.Mutex.Lock", n}});
}

// The mutex lives on the outer goroutine's stack, reachable only from the
// inner one; the outer then waits on a channel only it holds. Both leak.
// (A mutex in malloc'd memory is not found yet: the heap is a root.)
std::atomic<int> l_outer, l_inner;

[[gnu::noinline]] void mutex_reached_only_by_leaked() {
  Mutex mu;
  mu.lock();
  go([&mu] { AT(l_inner) mu.lock(); });
  auto never = make_chan<int>();
  AT(l_outer) (void)never.recv();
}

TEST_P(Leak, MutexReachableOnlyFromLeakedGoroutines) {
  leaves_goroutines(kLeaks);
  constexpr int n = std::min(1000, stray::test::kMaxParked / 2);
  on_goroutine([] {
    for (int i = 0; i < n; i++) go(mutex_reached_only_by_leaked);
  });
  wait_until_waiting(n, WaitReason::sync_mutex_lock);
  wait_until_waiting(n, WaitReason::chan_receive);
  expect_leaks({{"mutex_reached_only_by_leaked", &l_inner, "sync.Mutex.Lock", n},
                {"mutex_reached_only_by_leaked", &l_outer, "chan receive", n}});
}

std::atomic<int> l_cond, l_rlock, l_wlock;

[[gnu::noinline]] void cond_never_signalled() {
  Mutex mu;
  Cond c(mu);
  mu.lock();
  AT(l_cond) c.wait();
}

[[gnu::noinline]] void rlock_after_lock() {
  RWMutex rw;
  rw.lock();
  AT(l_rlock) rw.lock_shared();
}

[[gnu::noinline]] void lock_after_lock() {
  RWMutex rw;
  rw.lock();
  AT(l_wlock) rw.lock();
}

TEST_P(Leak, CondAndRWMutex) {
  leaves_goroutines(kLeaks);
  on_goroutine([] {
    go(cond_never_signalled);
    go(rlock_after_lock);
    go(lock_after_lock);
  });
  wait_until_waiting(1, WaitReason::sync_cond_wait);
  wait_until_waiting(1, WaitReason::sync_rwmutex_rlock);
  wait_until_waiting(1, WaitReason::sync_rwmutex_lock);
  expect_leaks({{"cond_never_signalled", &l_cond, "sync.Cond.Wait", 1},
                {"rlock_after_lock", &l_rlock, "sync.RWMutex.RLock", 1},
                {"lock_after_lock", &l_wlock, "sync.RWMutex.Lock", 1}});
}

// Mixed: A waits for B, B sends where nobody receives — a cycle of a
// channel and a WaitGroup, both leak.
std::atomic<int> l_mixed_a, l_mixed_b;

[[gnu::noinline]] void mixed_cycle() {
  go([] {
    WaitGroup wg;
    auto ch = make_chan<int>();
    wg.add(1);
    go([&wg, ch] {
      AT(l_mixed_b) ch.send(1);
      wg.done();
    });
    AT(l_mixed_a) wg.wait();
  });
}

TEST_P(Leak, MixedChannelAndWaitGroupCycle) {
  leaves_goroutines(kLeaks);
  on_goroutine(mixed_cycle);
  wait_until_waiting(1, WaitReason::sync_waitgroup_wait);
  wait_until_waiting(1, WaitReason::chan_send);
  expect_leaks({{"mixed_cycle", &l_mixed_a, "sync.WaitGroup.Wait", 1},
                {"mixed_cycle", &l_mixed_b, "chan send", 1}});
}

// ---- must not be reported ----

Chan<int> global_chan;

TEST_P(Leak, NoLeakChannelInGlobal) {
  global_chan = make_chan<int>();
  go([] { (void)global_chan.recv(); });
  wait_until_waiting(1, WaitReason::chan_receive);
  expect_no_leaks();
  global_chan.send(1);  // and it really could be woken
}

TEST_P(Leak, NoLeakChannelAlsoHeldBySpinningGoroutine) {
  std::atomic<bool> stop{false};
  WaitGroup spun;
  [&] {
    auto ch = make_chan<int>();
    go([ch] { (void)ch.recv(); });
    spun.go([ch, &stop] {
      while (!stop.load()) yield();  // might send at any time
      ch.send(1);
    });
  }();
  wait_until_waiting(1, WaitReason::chan_receive);
  expect_no_leaks();
  stop = true;
  spun.wait();
}

TEST_P(Leak, NoLeakChannelHeldOnlyByAThread) {
  std::promise<void> moved, go_on;
  std::future<void> moved_f = moved.get_future(), go_on_f = go_on.get_future();
  std::thread t;
  on_goroutine([&] {
    auto ch = make_chan<int>();
    go([ch] { (void)ch.recv(); });
    t = std::thread([ch = std::move(ch), &moved, f = std::move(go_on_f)]() mutable {
      Chan<int> mine = std::move(ch);  // leaves the heap copy of the lambda nil
      moved.set_value();
      f.wait();  // blocked outside stray: the handle is only on this stack
      mine.send(1);
    });
  });
  moved_f.wait();
  wait_until_waiting(1, WaitReason::chan_receive);
  expect_no_leaks();
  go_on.set_value();
  t.join();
}

// Goroutines that only a timer wakes, an hour from now: not leaked, and not
// done when the test ends.
constexpr const char* kAnHourAway = "goroutines a timer wakes an hour from now";

TEST_P(Leak, NoLeakSleeperAndTimerSelect) {
  leaves_goroutines(kAnHourAway);
  WaitGroup done;
  [&] {
    auto ch = make_chan<int>();
    go([ch] { (void)ch.recv(); });  // the sleeper below will send
    go([ch] {
      stray::sleep(std::chrono::hours(1));
      ch.send(1);
    });
    auto quit = make_chan<int>();
    done.go([quit] {
      stray::select(recv_case(after(std::chrono::hours(1)), [](auto) {}),
                    recv_case(quit, [](std::optional<int>) {}));
    });
    go([quit] { quit.send(1); stray::sleep(std::chrono::hours(1)); });
  }();
  wait_until_waiting(1, WaitReason::chan_receive);
  wait_until_waiting(2, WaitReason::sleep);
  done.wait();
  expect_no_leaks();
}

TEST_P(Leak, NoLeakTimerBackedSelect) {
  leaves_goroutines(kAnHourAway);
  [] {
    auto ch = make_chan<int>();
    go([ch] {
      stray::select(recv_case(after(std::chrono::hours(1)), [](auto) {}), recv_case(ch, [](std::optional<int>) {}));
    });
  }();
  wait_until_waiting(1, WaitReason::select);
  expect_no_leaks();
}

// DaisyChain: each goroutine waits on the next one's channel; the tail
// sleeps an hour and then sends, so the whole chain is eventually runnable.
TEST_P(Leak, NoLeakDaisyChainWithSleepingTail) {
  leaves_goroutines(kAnHourAway);
  constexpr int n = std::min(1000, stray::test::kMaxParked);
  [] {
    auto next = make_chan<int>();
    go([next] {
      stray::sleep(std::chrono::hours(1));
      next.send(1);
    });
    for (int i = 1; i < n; i++) {
      auto mine = make_chan<int>();
      go([mine, next] { mine.send(next.recv().value()); });
      next = mine;
    }
  }();
  wait_until_waiting(n - 1, WaitReason::chan_receive);
  expect_no_leaks();
}

STRAY_PROCS_SWEEP(Leak);

// ---- main blocked in select() with no cases ----

std::atomic<int> l_child;

[[gnu::noinline]] void spawn_private_receiver() {
  auto ch = make_chan<int>();
  go([ch] { AT(l_child) (void)ch.recv(); });
}

TEST(LeakMain, SelectNoCasesOnMainThreadNotReported) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        // Spawned from a short-lived goroutine, so the main thread's stack
        // never held the child's closure address (a stale copy there would
        // keep the child's stack reachable).
        WaitGroup spawned;
        spawned.go(spawn_private_receiver);
        spawned.wait();
        go([] {
          wait_until_waiting(1, WaitReason::chan_receive);
          std::vector<pprof::Goroutine> leaks = pprof::detect_leaks();
          bool ok = leaks.size() == 1 && stray::test::matches(leaks[0], Site{"spawn_private_receiver", &l_child,
                                                                               "chan receive", 1});
          fprintf(stderr, "leaks=%zu\n", leaks.size());
          _exit(ok ? 0 : 1);
        });
        stray::select();  // the main thread blocks forever
      },
      ::testing::ExitedWithCode(0), "leaks=1");
}

// ---- stop-the-world failure and the oracle ----

TEST(LeakStop, ThreadBlockingTheSignalFailsThePassNamingIt) {
  leaves_goroutines(kLeaks);
  std::promise<void> ready, quit;
  std::thread t([&] {
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, rt::stop_signal());
    pthread_sigmask(SIG_BLOCK, &s, nullptr);
    ready.set_value();
    quit.get_future().wait();
  });
  ready.get_future().wait();
  leaky_sender();
  wait_until_waiting(1, WaitReason::chan_send);
  try {
    (void)pprof::detect_leaks();
    ADD_FAILURE() << "the pass did not fail";
  } catch (const pprof::PassError& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("cannot stop the world: thread "), std::string::npos) << what;
    // Read from the thread's signal mask, without waiting out the timeout.
    EXPECT_NE(what.find(") blocks the stop signal ("), std::string::npos) << what;
    EXPECT_EQ(what.find("did not stop within"), std::string::npos) << what;
  }
  // Nothing was marked: the goroutine is still just waiting.
  EXPECT_EQ(rt::count_goroutines(rt::Gstatus::leaked), 0);
  quit.set_value();
  t.join();
  // With the thread gone, the pass works again.
  expect_leaks({{"leaky_sender", &l_send, "chan send", 1}});
}

TEST(LeakStop, OutOfFileDescriptorsSaysSo) {
  leaves_goroutines(kLeaks);
  leaky_sender();
  wait_until_waiting(1, WaitReason::chan_send);
  expect_leaks({{"leaky_sender", &l_send, "chan send", 1}});  // loads what a pass needs
  rlimit saved{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &saved), 0);
  rlimit low = saved;
  low.rlim_cur = 256;
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
  std::vector<int> fds;
  for (int fd; (fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0;) fds.push_back(fd);
  ASSERT_EQ(errno, EMFILE);
  // Nothing but the pass while the descriptors are gone (UBSan's own
  // checks need one to read what() through its vtable).
  std::exception_ptr error;
  try {
    (void)pprof::detect_leaks();
  } catch (...) {
    error = std::current_exception();
  }
  for (int fd : fds) close(fd);
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &saved), 0);
  std::string what;
  try {
    if (error) std::rethrow_exception(error);
  } catch (const pprof::PassError& e) {
    what = e.what();
  }
  EXPECT_NE(what.find("Too many open files (the process is out of file descriptors)"), std::string::npos) << what;
  expect_leaks({{"leaky_sender", &l_send, "chan send", 1}});
}

TEST(LeakStop, AHandlerInstalledLaterForTheStopSignalFailsThePass) {
  leaves_goroutines(kLeaks);
  leaky_sender();
  wait_until_waiting(1, WaitReason::chan_send);
  expect_leaks({{"leaky_sender", &l_send, "chan send", 1}});  // the first pass installs stray's handler
  struct sigaction mine {}, saved {};
  mine.sa_handler = [](int) {};
  sigaction(rt::stop_signal(), &mine, &saved);
  try {
    (void)pprof::detect_leaks();
    ADD_FAILURE() << "the pass did not fail";
  } catch (const pprof::PassError& e) {
    EXPECT_NE(std::string(e.what()).find("was given another handler after stray installed its own (set "
                                         "STRAY_STOP_SIGNAL"),
              std::string::npos)
        << e.what();
  }
  // Given back to the default, the signal is stray's again.
  signal(rt::stop_signal(), SIG_DFL);
  expect_leaks({{"leaky_sender", &l_send, "chan send", 1}});
  (void)saved;
}

// A hidden pointer (DESIGN.md §4's documented limit) produces a false
// positive; the oracle catches the goroutine being woken.
using stray::test::hidden_receiver;
using stray::test::send_through_hidden;

TEST(LeakOracle, WakingAReportedGoroutineAborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        uintptr_t hidden = hidden_receiver();
        wait_until_waiting(1, WaitReason::chan_receive);
        // The heap is a root; the XOR hides the only reference to the copy.
        if (pprof::detect_leaks().size() != 1) _exit(3);
        send_through_hidden(hidden);
        stray::sleep(std::chrono::seconds(5));
      },
      "false positive: goroutine 1");
}

}  // namespace
