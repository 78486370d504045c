// stray/time.h — sleeping, timers and tickers (Go: package time).
//
// Durations and instants are std::chrono::steady_clock's. Timer channels
// have Go 1.23 semantics: after stop() or reset() returns, no value sent
// for the old schedule can be received.
//
// Durations, and their extremes. Every function here takes any
// std::chrono::duration<Rep, Period> (an integer Rep of at most 64 bits, or
// a floating one) and converts it with detail::saturate: to the clock's
// nanoseconds, truncated toward zero as duration_cast does, but clamped to
// [duration::min(), duration::max()] *before* converting, so hours::max() or
// +infinity is duration::max() instead of an overflow. A deadline is now + d,
// saturated the same way:
// * d <= 0 (down to duration::min(), hours::min(), -infinity) means now:
//   sleep returns at once, after/Timer/reset fire at once (Go's rule).
// * d too long for the clock (duration::max(), hours::max(), +infinity, …)
//   means "never": a timer that never fires. It stays pending — stop() and
//   reset() return true — and costs nothing while it waits; sleep never
//   returns. (Go clamps the same way: time.go's when() returns maxWhen.)
// * A NaN duration throws stray::panic("NaN duration").
// A pending timer, even one that never fires, keeps the deadlock check
// silent (a timer can still make progress), as Go's checkdead does.
//
// A goroutine blocked in sleep() has wait reason "sleep"; a timer's channel
// counts as live for the leak detector until the timer fires or is stopped.
#pragma once

#include <chrono>
#include <cstdint>
#include <ratio>
#include <type_traits>

#include "stray/chan.h"
#include "stray/panic.h"

// The public API: exported from libstray.so, whose other symbols are hidden.
#pragma GCC visibility push(default)

namespace stray {

using Clock = std::chrono::steady_clock;
using time_point = Clock::time_point;
using duration = Clock::duration;

namespace detail {

struct rtimer;  // runtime timer (src/runtime/time.cc), lives in the arena

// Wide enough for any 64-bit count times any Period in nanoseconds:
// |count * num| < 2^64 * 2^63 = 2^127.
__extension__ typedef __int128 saturate_wide;

// d in the clock's unit, clamped to [duration::min(), duration::max()] and
// truncated toward zero. The clamp happens in a wider type: converting first
// (duration_cast, or the implicit conversion hours → nanoseconds) overflows,
// which is undefined behaviour. Throws stray::panic("NaN duration").
template <class Rep, class Period>
constexpr duration saturate(std::chrono::duration<Rep, Period> d) {
  using R = std::ratio_divide<Period, duration::period>;  // one unit of d is R::num / R::den clock units
  constexpr duration::rep lo = duration::min().count(), hi = duration::max().count();
  if constexpr (std::is_floating_point_v<Rep>) {
    long double x = static_cast<long double>(d.count()) * R::num / R::den;
    if (__builtin_isnan(x)) throw panic("NaN duration");
    if (x >= static_cast<long double>(hi)) return duration::max();  // also +inf
    if (x <= static_cast<long double>(lo)) return duration::min();  // also -inf
    return duration(static_cast<duration::rep>(x));                 // |x| < 2^63: exact truncation
  } else {
    static_assert(std::is_integral_v<Rep> && sizeof(Rep) <= sizeof(std::int64_t),
                  "stray: a duration's Rep must be floating or an integer of at most 64 bits");
    saturate_wide x = static_cast<saturate_wide>(d.count()) * R::num / R::den;
    if (x > hi) return duration::max();
    if (x < lo) return duration::min();
    return duration(static_cast<duration::rep>(x));
  }
}

// An instant of the clock in any unit, clamped the same way
// (time_point<Clock, hours>::max() is time_point::max()).
template <class Dur>
constexpr time_point saturate(std::chrono::time_point<Clock, Dur> t) {
  return time_point(saturate(t.time_since_epoch()));
}

}  // namespace detail

// Go: time.Sleep. Parks the goroutine (or blocks the thread) for at least d;
// d <= 0 returns at once; a d too long for the clock never returns.
void sleep(duration d);
template <class Rep, class Period>
void sleep(std::chrono::duration<Rep, Period> d) {
  sleep(detail::saturate(d));
}

// Go: time.After. A channel that receives the current time once, d from now
// (at once for d <= 0; never for a d too long for the clock).
Chan<time_point> after(duration d);
template <class Rep, class Period>
Chan<time_point> after(std::chrono::duration<Rep, Period> d) {
  return after(detail::saturate(d));
}

// Go: time.Timer. Sends the time on c() once, d after construction or the
// last reset() (at once for d <= 0; never, while staying pending, for a d
// too long for the clock). Not copyable; destroying a Timer stops it.
class Timer {
 public:
  explicit Timer(duration d);
  template <class Rep, class Period>
  explicit Timer(std::chrono::duration<Rep, Period> d) : Timer(detail::saturate(d)) {}
  ~Timer();
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;

  Chan<time_point> c() const { return c_; }
  // Prevents the timer from firing. True if that stopped it, false if it had
  // already fired or been stopped. Afterwards c() holds no value.
  bool stop();
  // Stops and re-arms the timer to fire d from now; returns what stop()
  // would have. Afterwards c() holds no value of the old schedule.
  bool reset(duration d);
  template <class Rep, class Period>
  bool reset(std::chrono::duration<Rep, Period> d) {
    return reset(detail::saturate(d));
  }

 private:
  Chan<time_point> c_;
  detail::rtimer* t_;
};

// Go: time.Ticker. Sends the time on c() every d. d must be positive once
// converted to nanoseconds (a positive floating d below 1 ns truncates to
// 0), else the constructor throws stray::panic("non-positive interval for
// NewTicker") and reset() stray::panic("non-positive interval for
// Ticker.Reset"), leaving the ticker as it was. A period too long for the
// clock never ticks (and a tick whose successor would pass the clock's range
// is the last). A slow receiver drops ticks: the channel holds at most one.
// Not copyable; destroying a Ticker stops it.
class Ticker {
 public:
  explicit Ticker(duration d);
  template <class Rep, class Period>
  explicit Ticker(std::chrono::duration<Rep, Period> d) : Ticker(detail::saturate(d)) {}
  ~Ticker();
  Ticker(const Ticker&) = delete;
  Ticker& operator=(const Ticker&) = delete;

  Chan<time_point> c() const { return c_; }
  void stop();
  // Stops the ticker and restarts it with period d (> 0) from now.
  void reset(duration d);
  template <class Rep, class Period>
  void reset(std::chrono::duration<Rep, Period> d) {
    reset(detail::saturate(d));
  }

 private:
  Chan<time_point> c_;
  detail::rtimer* t_;
};

}  // namespace stray

#pragma GCC visibility pop
