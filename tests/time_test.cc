// time_test — sleep, after, Timer, Ticker (stray/time.h).
#include <atomic>
#include <chrono>
#include <limits>
#include <memory>
#include <thread>
#include <vector>

#include "runtime/lock.h"
#include "test_util.h"

using namespace std::chrono_literals;
using stray::Clock;
using stray::make_chan;
using stray::Unit;
using stray::rt::WaitReason;
using stray::test::for_each_never;
using stray::test::wait_until_waiting;

TEST(Time, SleepParksWithReasonSleep) {
  stray::test::leaves_goroutines("a goroutine asleep for an hour: a sleep cannot be cut short");
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

// --- Extremes: durations the clock cannot add to "now" -----------------------
//
// Every API that takes a duration saturates: a deadline past the last instant
// the clock can represent is "never" (Go: when() returns maxWhen), and the
// conversion to the clock's nanoseconds clamps before it could overflow.
// "Never" is proved without timing thresholds: a short timer fires while the
// never-timer stays pending (its channel empty, stop() true, the sleeper
// still parked).

namespace {

using Doubles = std::chrono::duration<double>;
constexpr double kInf = std::numeric_limits<double>::infinity();


// Calls f(d) with each duration at or below zero, down to the extremes.
template <class F>
void for_each_non_positive(F f) {
  f(stray::duration::zero());
  f(-1ns);
  f(stray::duration::min());
  f(std::chrono::hours::min());
  f(Doubles::min());  // for a floating Rep, the lowest value
  f(Doubles(-kInf));
  f(Doubles(-0.0));
}

// Waits for a short timer: anything that was going to fire at once has.
void let_a_short_timer_fire() { stray::after(1ms).recv(); }

}  // namespace

TEST(Time, SaturateClampsBeforeConverting) {
  using stray::detail::saturate;
  static_assert(saturate(std::chrono::hours::max()) == stray::duration::max());
  static_assert(saturate(std::chrono::hours::min()) == stray::duration::min());
  static_assert(saturate(std::chrono::duration<uint64_t>::max()) == stray::duration::max());
  static_assert(saturate(std::chrono::duration<int64_t, std::pico>::min()) == stray::duration(INT64_MIN / 1000));
  static_assert(saturate(Doubles(kInf)) == stray::duration::max());
  static_assert(saturate(Doubles(-kInf)) == stray::duration::min());
  static_assert(saturate(Doubles(1.5e-9)) == 1ns);   // truncates toward zero, as duration_cast
  static_assert(saturate(Doubles(-1.5e-9)) == -1ns);
  // count * 10^9 overflows 64 bits; count * 10^9 / 3 does not.
  static_assert(saturate(std::chrono::duration<int64_t, std::ratio<1, 3>>(15'000'000'000)) ==
                5'000'000'000'000'000'000ns);
  static_assert(saturate(2562047h) < stray::duration::max());  // the largest whole hours that fit
  static_assert(saturate(2562048h) == stray::duration::max());
  static_assert(saturate(stray::duration(12345)) == stray::duration(12345));
  EXPECT_EQ(saturate(stray::time_point::max()), stray::time_point::max());
  EXPECT_EQ(saturate(std::chrono::time_point<Clock, std::chrono::hours>::max()), stray::time_point::max());
  EXPECT_EQ(saturate(std::chrono::time_point<Clock, std::chrono::hours>::min()), stray::time_point::min());
  stray::test::expect_panic([] { saturate(Doubles(std::numeric_limits<double>::quiet_NaN())); }, "NaN duration");
}

TEST(Time, SleepBeyondTheClockNeverReturns) {
  stray::test::leaves_goroutines("goroutines asleep for ever");
  auto woke = make_chan<int>(64);
  int before = stray::test::waiting(WaitReason::sleep);
  int n = 0;
  for_each_never([&](auto d) {
    stray::go([woke, d, i = n]() mutable {
      stray::sleep(d);
      woke.send(i);  // never: the deadline is "never"
    });
    n++;
  });
  // All of them parked, or one returned (before the fix: deadline now + d
  // overflowed into the past and sleep returned at once).
  while (stray::test::waiting(WaitReason::sleep) < before + n && woke.len() == 0) stray::yield();
  let_a_short_timer_fire();
  EXPECT_EQ(woke.len(), 0u) << "sleep(d) returned for a d past the clock's range";
  EXPECT_EQ(stray::test::waiting(WaitReason::sleep), before + n);
}

TEST(Time, SleepNonPositiveReturnsAtOnce) {
  for_each_non_positive([](auto d) { stray::sleep(d); });  // on this plain thread
  auto done = make_chan<int>(64);
  int n = 0;
  for_each_non_positive([&](auto d) {
    stray::go([done, d]() mutable {
      stray::sleep(d);
      done.send(1);
    });
    n++;
  });
  for (int i = 0; i < n; i++) done.recv();
  stray::test::expect_panic([] { stray::sleep(Doubles(std::numeric_limits<double>::quiet_NaN())); },
                            "NaN duration");
}

TEST(Time, AfterBeyondTheClockNeverSends) {
  std::vector<stray::Chan<stray::time_point>> never;
  for_each_never([&](auto d) { never.push_back(stray::after(d)); });
  let_a_short_timer_fire();
  for (std::size_t i = 0; i < never.size(); i++) EXPECT_EQ(never[i].len(), 0u) << "extreme #" << i;
  for_each_non_positive([](auto d) { EXPECT_TRUE(stray::after(d).recv()); });
}

TEST(Timer, BeyondTheClockStaysPending) {
  std::vector<std::unique_ptr<stray::Timer>> never;
  for_each_never([&](auto d) { never.push_back(std::make_unique<stray::Timer>(d)); });
  let_a_short_timer_fire();
  for (std::size_t i = 0; i < never.size(); i++) {
    EXPECT_EQ(never[i]->c().len(), 0u) << "extreme #" << i;
    EXPECT_TRUE(never[i]->stop()) << "extreme #" << i << " was no longer pending";
  }
  for_each_non_positive([](auto d) {
    stray::Timer t(d);
    EXPECT_TRUE(t.c().recv());
  });
}

TEST(Timer, ResetToTheExtremes) {
  int i = 0;
  for_each_never([&](auto d) {
    stray::Timer t(1h);
    EXPECT_TRUE(t.reset(d)) << "extreme #" << i;  // was pending
    let_a_short_timer_fire();
    EXPECT_EQ(t.c().len(), 0u) << "extreme #" << i;
    EXPECT_TRUE(t.reset(d)) << "extreme #" << i << " was no longer pending";
    EXPECT_TRUE(t.stop()) << "extreme #" << i;
    i++;
  });
  for_each_non_positive([](auto d) {
    stray::Timer t(stray::duration::max());
    EXPECT_TRUE(t.reset(d));
    EXPECT_TRUE(t.c().recv());  // fires at once
    EXPECT_FALSE(t.stop());
  });
}

TEST(Ticker, PeriodBeyondTheClockNeverTicksNorStallsOthers) {
  std::vector<std::unique_ptr<stray::Ticker>> never;
  for_each_never([&](auto d) { never.push_back(std::make_unique<stray::Ticker>(d)); });
  stray::Ticker reset_to_never(1ms);
  reset_to_never.c().recv();
  reset_to_never.reset(stray::duration::max());
  // Before the fix the timer thread refired these in a loop and no other
  // timer fired again: this ticker's five ticks never came.
  stray::Ticker fast(1ms);
  for (int k = 0; k < 5; k++) ASSERT_TRUE(fast.c().recv());
  for (std::size_t i = 0; i < never.size(); i++) EXPECT_EQ(never[i]->c().len(), 0u) << "extreme #" << i;
  EXPECT_EQ(reset_to_never.c().len(), 0u);
}

TEST(Ticker, NonPositiveIntervalPanicsWithGosMessage) {
  using stray::test::expect_panic;
  for_each_non_positive([](auto d) {
    expect_panic([d] { stray::Ticker t(d); }, "non-positive interval for NewTicker");
  });
  expect_panic([] { stray::Ticker t(Doubles(0.5e-9)); },
               "non-positive interval for NewTicker");  // truncates to 0 ns
  stray::Ticker tk(1h);
  for_each_non_positive([&](auto d) {
    expect_panic([&] { tk.reset(d); }, "non-positive interval for Ticker.Reset");
  });
  expect_panic([] { stray::Ticker t{Doubles(std::numeric_limits<double>::quiet_NaN())}; }, "NaN duration");
}
