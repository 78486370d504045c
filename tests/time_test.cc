// time_test — sleep, after, Timer, Ticker (stray/time.h).
#include <atomic>
#include <chrono>
#include <thread>

#include "lock.h"
#include "test_util.h"

using namespace std::chrono_literals;
using stray::Clock;
using stray::make_chan;
using stray::Unit;
using stray::rt::WaitReason;
using stray::test::wait_until_waiting;

TEST(Time, SleepParksWithReasonSleep) {
  int before = stray::rt::count_goroutines(stray::rt::Gstatus::waiting, WaitReason::sleep);
  stray::go([] { stray::sleep(1h); });
  wait_until_waiting(before + 1, WaitReason::sleep);
}

TEST(Time, SleepLastsAtLeastItsDuration) {
  auto done = make_chan<Clock::duration>(1);
  stray::go([done]() mutable {
    auto t0 = Clock::now();
    stray::sleep(20ms);
    done.send(Clock::now() - t0);
  });
  EXPECT_GE(*done.recv(), 20ms);
  auto t0 = Clock::now();  // and on a plain thread
  stray::sleep(5ms);
  EXPECT_GE(Clock::now() - t0, 5ms);
  stray::sleep(-1s);  // returns at once
}

TEST(Time, AfterSendsOnceNoEarlierThanItsDuration) {
  auto t0 = Clock::now();
  auto c = stray::after(10ms);
  auto v = c.recv();
  ASSERT_TRUE(v);
  EXPECT_GE(*v - t0, 10ms);
  EXPECT_GE(Clock::now() - t0, 10ms);
  EXPECT_EQ(c.len(), 0u);
}

TEST(Time, SelectWithTimeout) {
  auto never = make_chan<int>();
  bool timed_out = false;
  stray::select(stray::recv_case(never, [](std::optional<int>) { FAIL(); }),
                stray::recv_case(stray::after(1ms), [&] { timed_out = true; }));
  EXPECT_TRUE(timed_out);
}

TEST(Timer, StopBeforeFiringPreventsIt) {
  stray::Timer t(1h);
  EXPECT_TRUE(t.stop());
  EXPECT_FALSE(t.stop());
  EXPECT_EQ(t.c().len(), 0u);
}

TEST(Timer, StopAfterFiringLeavesNoStaleValue) {
  stray::Timer t(0ms);
  while (t.c().len() == 0) stray::yield();  // it fired; the value waits unread
  EXPECT_FALSE(t.stop());
  EXPECT_EQ(t.c().len(), 0u);  // Go 1.23: stop drained it
}

TEST(Timer, ResetReschedules) {
  stray::Timer t(1h);
  auto t0 = Clock::now();
  EXPECT_TRUE(t.reset(5ms));
  auto v = t.c().recv();
  EXPECT_GE(*v - t0, 5ms);
  // Reset after firing: false, and the new schedule fires again.
  EXPECT_FALSE(t.reset(1ms));
  EXPECT_TRUE(t.c().recv());
}

TEST(Timer, ResetAfterUnreadFireDropsTheOldValue) {
  stray::Timer t(0ms);
  while (t.c().len() == 0) stray::yield();
  t.reset(1h);
  EXPECT_EQ(t.c().len(), 0u);
}

TEST(Ticker, TicksRepeatedlyAndStops) {
  stray::Ticker tk(2ms);
  auto prev = *tk.c().recv();
  for (int i = 0; i < 3; i++) {
    auto v = *tk.c().recv();
    EXPECT_GT(v, prev);
    prev = v;
  }
  tk.reset(1ms);
  EXPECT_TRUE(tk.c().recv());
  tk.stop();
  EXPECT_EQ(tk.c().len(), 0u);
  EXPECT_THROW(stray::Ticker(0s), std::invalid_argument);
  EXPECT_THROW(tk.reset(-1ms), std::invalid_argument);
}

TEST(Ticker, SlowReceiverDropsTicks) {
  stray::Ticker tk(1ms);
  stray::sleep(20ms);          // about 20 ticks while nobody receives
  EXPECT_EQ(tk.c().len(), 1u);  // the channel holds one of them
}

TEST(Time, TenThousandTimersFire) {
  stray::WaitGroup wg;
  std::atomic<int> fired{0};
  const int n = std::min(10000, stray::test::kMaxParked);
  for (int i = 0; i < n; i++) {
    wg.go([&fired, i] {
      stray::sleep(std::chrono::microseconds(i % 100));
      fired.fetch_add(1);
    });
  }
  wg.wait();
  EXPECT_EQ(fired.load(), n);
}

TEST(Timer, StopAndResetRacingTheFiringLeaveNoStaleValue) {
  // Timers due right now, stopped or reset while the timer thread may be
  // firing them: whatever stop()/reset() return, the channel is empty
  // afterwards (Go 1.23). (StopAfterFiringLeavesNoStaleValue covers the
  // case where the firing surely came first.)
  for (int i = 0; i < 2000; i++) {
    stray::Timer t(std::chrono::microseconds(i % 3));
    for (int k = 0; k < i % 50; k++) stray::rt::cpu_relax();
    if (i % 2) t.stop(); else t.reset(1h);
    ASSERT_EQ(t.c().len(), 0u) << "iteration " << i;
  }
}
