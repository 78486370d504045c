// stray/time.h — sleeping, timers and tickers (Go: package time).
//
// Durations and instants are std::chrono::steady_clock's. Timer channels
// have Go 1.23 semantics: after stop() or reset() returns, no value sent
// for the old schedule can be received.
//
// A goroutine blocked in sleep() has wait reason "sleep"; a timer's channel
// counts as live for the leak detector until the timer fires or is stopped.
#pragma once

#include <chrono>
#include <cstdint>

#include "stray/chan.h"

namespace stray {

using Clock = std::chrono::steady_clock;
using time_point = Clock::time_point;
using duration = Clock::duration;

namespace detail {
struct rtimer;  // runtime timer (src/time.cc), lives in the arena
}

// Go: time.Sleep. Parks the goroutine (or blocks the thread) for at least d;
// d <= 0 returns at once.
void sleep(duration d);

// Go: time.After. A channel that receives the current time once, d from now.
Chan<time_point> after(duration d);

// Go: time.Timer. Sends the time on c() once, d after construction or the
// last reset(). Not copyable; destroying a Timer stops it.
class Timer {
 public:
  explicit Timer(duration d);
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

 private:
  Chan<time_point> c_;
  detail::rtimer* t_;
};

// Go: time.Ticker. Sends the time on c() every d (d > 0, else throws
// std::invalid_argument). A slow receiver drops ticks: the channel holds at
// most one. Not copyable; destroying a Ticker stops it.
class Ticker {
 public:
  explicit Ticker(duration d);
  ~Ticker();
  Ticker(const Ticker&) = delete;
  Ticker& operator=(const Ticker&) = delete;

  Chan<time_point> c() const { return c_; }
  void stop();
  // Stops the ticker and restarts it with period d (> 0) from now.
  void reset(duration d);

 private:
  Chan<time_point> c_;
  detail::rtimer* t_;
};

}  // namespace stray
