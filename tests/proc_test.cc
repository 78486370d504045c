// proc_test — goroutines and the scheduler (stray/go.h).
#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "test_util.h"

using stray::make_chan;
using stray::Unit;
using stray::rt::WaitReason;
using stray::test::Latch;
using stray::test::wait_until_waiting;

namespace {
// Exits 0 if the first two goroutines of a fresh process get ids 1 and 2.
void first_ids_are_one_and_two() {
  if (stray::goroutine_id() != 0) _exit(3);
  auto c = make_chan<std::uint64_t>();
  stray::go([c]() mutable { c.send(stray::goroutine_id()); });
  stray::go([c]() mutable { c.send(stray::goroutine_id()); });
  std::uint64_t a = *c.recv(), b = *c.recv();
  _exit(std::min(a, b) == 1 && std::max(a, b) == 2 ? 0 : 4);
}
}  // namespace

TEST(Proc, GoroutineIdsStartAtOneAndThreadsHaveZero) {
  STRAY_SKIP_WITHOUT_REEXEC();
  // A fresh process (death-test child re-executed from scratch).
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(first_ids_are_one_and_two(), ::testing::ExitedWithCode(0), "");
}

TEST(Proc, IdsAreUnique) {
  const int n = 1000;
  auto c = make_chan<std::uint64_t>(n);
  for (int i = 0; i < n; i++) stray::go([c]() mutable { c.send(stray::goroutine_id()); });
  std::set<std::uint64_t> ids;
  for (int i = 0; i < n; i++) ids.insert(*c.recv());
  EXPECT_EQ(ids.size(), std::size_t(n));
  EXPECT_EQ(ids.count(0), 0u);
}

TEST(Proc, ArgumentsAreCopiedAtTheGoStatement) {
  auto c = make_chan<std::string>(1);
  std::string s = "before";
  stray::go([](std::string v, stray::Chan<std::string> out) { out.send(v); }, s, c);
  s = "after";
  EXPECT_EQ(c.recv(), "before");
}

TEST(Proc, ClosureLivesOnTheGoroutinesOwnStack) {
  struct Payload {
    char bytes[512];
  };
  auto c = make_chan<std::ptrdiff_t>(1);
  stray::go([c, p = Payload{}]() mutable {
    int local = 0;
    // The captured payload lies just above the goroutine's frames, on the
    // same stack: within a few KiB of a local variable, above it.
    c.send(reinterpret_cast<const char*>(&p) - reinterpret_cast<const char*>(&local));
  });
  std::ptrdiff_t d = *c.recv();
  EXPECT_GT(d, 0);
  EXPECT_LT(d, 16 << 10);
}

TEST(Proc, NumGoroutineCountsLiveGoroutines) {
  auto gate = make_chan<Unit>();
  int base = stray::num_goroutine();
  int wbase = stray::rt::count_goroutines(stray::rt::Gstatus::waiting, WaitReason::chan_receive);
  const int n = 100;
  auto exited = make_chan<Unit>(n);
  for (int i = 0; i < n; i++) {
    stray::go([gate, exited]() mutable {
      gate.recv();
      exited.send({});
    });
  }
  EXPECT_EQ(stray::num_goroutine(), base + n);
  wait_until_waiting(wbase + n, WaitReason::chan_receive);
  gate.close();
  for (int i = 0; i < n; i++) exited.recv();
  while (stray::num_goroutine() > base) stray::yield();  // the last ones are exiting
  EXPECT_EQ(stray::num_goroutine(), base);
}

TEST(Proc, ProcsDefaultsToHardwareThreadsOrStrayProcs) {
  STRAY_SKIP_WITHOUT_REEXEC();
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  unsetenv("STRAY_PROCS");
  EXPECT_EXIT(_exit(stray::procs() == int(std::thread::hardware_concurrency()) ? 0 : 1),
              ::testing::ExitedWithCode(0), "");
  setenv("STRAY_PROCS", "3", 1);
  EXPECT_EXIT(_exit(stray::procs() == 3 ? 0 : 1), ::testing::ExitedWithCode(0), "");
  setenv("STRAY_PROCS", "zero", 1);
  EXPECT_EXIT(stray::procs(), ::testing::ExitedWithCode(2), "stray: STRAY_PROCS=\"zero\": want an integer in 1..256");
  unsetenv("STRAY_PROCS");
}

TEST(Proc, SetProcsValidatesAndApplies) {
  int saved = stray::procs();
  EXPECT_THROW(stray::set_procs(0), std::invalid_argument);
  EXPECT_THROW(stray::set_procs(257), std::invalid_argument);
  for (int n : {1, 5, 2, saved}) {
    stray::set_procs(n);
    EXPECT_EQ(stray::procs(), n);
    // Work still completes under the new setting.
    const int k = 200;
    Latch l(k);
    for (int i = 0; i < k; i++) stray::go([&l] { l.done(); });
    l.wait();
  }
}

TEST(Proc, YieldLetsOthersRunOnOneProc) {
  int saved = stray::procs();
  stray::set_procs(1);
  // Two goroutines on one processor take turns through yield(): each sees
  // the other's progress.
  std::atomic<int> turn{0};
  auto done = make_chan<bool>(2);
  for (int me = 0; me < 2; me++) {
    stray::go([&turn, done, me]() mutable {
      bool ok = true;
      for (int i = 0; i < 100; i++) {
        int spins = 0;
        while (turn.load() % 2 != me) {
          stray::yield();
          if (++spins > 1000000) ok = false;
        }
        turn.fetch_add(1);
      }
      done.send(ok);
    });
  }
  EXPECT_TRUE(*done.recv());
  EXPECT_TRUE(*done.recv());
  stray::set_procs(saved);
  stray::yield();  // from a plain thread: just yields the thread
}

namespace {
// State letters of this process's threads other than the caller.
std::string thread_states() {
  std::string states;
  DIR* d = opendir("/proc/self/task");
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.' || atoi(e->d_name) == gettid()) continue;
    std::ifstream f(std::string("/proc/self/task/") + e->d_name + "/stat");
    std::string line;
    std::getline(f, line);
    auto p = line.rfind(')');
    if (p != std::string::npos && p + 2 < line.size()) states += line[p + 2];
  }
  closedir(d);
  return states;
}
}  // namespace

TEST(Proc, IdleWorkersSleepInTheKernel) {
  // Every goroutine blocked: every worker thread must end up asleep (S), not
  // spinning (R). Polled with yields; a runtime that spins forever hangs here
  // until ctest's timeout.
  auto gate = make_chan<Unit>();
  Latch parked(50);
  for (int i = 0; i < 50; i++) stray::go([gate, &parked]() mutable { parked.done(); gate.recv(); });
  parked.wait();
  while (thread_states().find('R') != std::string::npos) std::this_thread::yield();
  EXPECT_EQ(thread_states().find('R'), std::string::npos);
  gate.close();
}

TEST(Proc, PerSpawnStackSize) {
  auto c = make_chan<bool>(1);
  // 1 MiB of locals needs a larger stack than the 256 KiB default.
  stray::go(stray::GoOptions{.stack_size = 4 << 20}, [c]() mutable {
    volatile char big[1 << 20];
    big[0] = 1;
    big[sizeof big - 1] = 2;
    c.send(big[0] + big[sizeof big - 1] == 3);
  });
  EXPECT_TRUE(*c.recv());
  EXPECT_THROW(stray::go(stray::GoOptions{.stack_size = std::size_t(2) << 30}, [] {}),
               std::invalid_argument);
  // A function object that leaves no room for frames on its stack.
  struct Big {
    char bytes[20 << 10];
  };
  EXPECT_THROW(stray::go(stray::GoOptions{.stack_size = 16 << 10}, [b = Big{}] { (void)b; }),
               std::invalid_argument);
}

// ---- stress ----

class ProcStress : public stray::test::ProcsTest {};

TEST_P(ProcStress, MillionGoroutinesSpawnedAndFinished) {
  // Under TSan, as many may be alive at once as the spawner gets ahead.
  const int n = std::min(1000000, stray::test::kMaxParked);
  std::atomic<int> ran{0};
  auto done = make_chan<Unit>();
  for (int i = 0; i < n; i++) {
    stray::go([&ran, done]() mutable {
      if (ran.fetch_add(1) + 1 == n) done.send({});
    });
  }
  done.recv();
  EXPECT_EQ(ran.load(), n);
}

TEST_P(ProcStress, HundredThousandParkedThenReleased) {
  const int n = std::min(100000, stray::test::kMaxParked);
  auto gate = make_chan<Unit>();
  auto out = make_chan<int>(n);
  int base = stray::rt::count_goroutines(stray::rt::Gstatus::waiting, WaitReason::chan_receive);
  for (int i = 0; i < n; i++) {
    stray::go([gate, out, i]() mutable {
      gate.recv();
      out.send(i);
    });
  }
  wait_until_waiting(base + n, WaitReason::chan_receive);
  gate.close();
  std::vector<char> seen(n, 0);
  for (int i = 0; i < n; i++) seen[*out.recv()]++;
  for (int i = 0; i < n; i++) ASSERT_EQ(seen[i], 1);
}

STRAY_PROCS_SWEEP(ProcStress);
