// timers.h — what the scheduler needs to know about timers (time.cc), and
// the deadline arithmetic time.cc and context.cc share.
//
// Deadlines never wrap: every now + d and every ticker's when + period goes
// through add_sat, so a deadline past the clock's range is kNever, INT64_MAX
// ns (nanotime() cannot reach it in 292 years of uptime), and one
// before it is INT64_MIN. Go does the same (time.go: when() returns maxWhen
// on overflow). Durations reach here already clamped by detail::saturate
// (stray/time.h).
#pragma once

#include <cstdint>
#include <limits>

#include "runtime/fn_ref.h"
#include "stray/time.h"

namespace stray::detail {
struct hchan;
}

namespace stray::rt {

struct G;

// The deadline that never comes, in nanotime() ns.
inline constexpr int64_t kNever = std::numeric_limits<int64_t>::max();

// a + b, clamped to int64_t's range instead of wrapping (to kNever upward).
inline int64_t add_sat(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r)) return b > 0 ? kNever : std::numeric_limits<int64_t>::min();
  return r;
}

// t + d, clamped to [time_point::min(), time_point::max()].
inline time_point add_sat(time_point t, duration d) {
  return time_point(duration(add_sat(t.time_since_epoch().count(), d.count())));
}

// True if any timer is scheduled (a sleeping goroutine or a timer channel
// that will fire): the program can still make progress.
bool timers_pending();

// For the leak detector, world stopped: fn(c, g) for every scheduled
// timer (c: the channel it will send on; g: the goroutine it will wake).
void timers_for_each(FnRef<void(detail::hchan* c, G* g)> fn);

// Threads the timer machinery runs (0 until the first timer, then 1).
int timer_threads();

}  // namespace stray::rt
