// time.cc — timers: sleep, after, Timer, Ticker (Go: time.go, sleep.go).
//
// Owns the timer heap: one binary min-heap of rtimer (runtime arena) ordered
// by deadline, O(log n) add and remove, and the timer thread that fires them.
// The timer thread sleeps on a futex exactly until the earliest deadline (or
// until an earlier timer is added), so idle programs with pending timers wake
// only when one is due. (Go keeps a heap per P and lets idle Ps sleep until
// the next timer; one heap and one thread are simpler and fast enough until
// a benchmark says otherwise.)
//
// Firing: a sleep timer readies its goroutine; a channel timer makes a
// non-blocking send of the current time on its channel (capacity 1, so a
// slow receiver drops ticks, as Go's Ticker does).
//
// Invariants:
// * t->index is t's position in the heap, -1 when not in it; both only
//   under Timers::lock.
// * t->when is computed only by add_sat (timers.h), never by a plain +: a
//   deadline past the clock's range is kNever (INT64_MAX). Such a timer stays
//   in the heap — pending, so stop() returns true, as Go's timer at maxWhen —
//   but is never due (nanotime() < kNever), and a ticker whose next tick
//   saturates to kNever simply never fires again. (Before, now + d wrapped
//   into the past: the timer fired at once, and a ticker with a huge period
//   re-armed itself in the past forever, starving every other timer.)
// * Timers fire with Timers::lock held, so stop()/reset(), which drain the channel
//   under Timers::lock, leave no value of the old schedule behind (Go 1.23).
// Locks: Timers::lock (the heap); its place in the lock order: lock.h.
#include <sys/prctl.h>

#include <thread>
#include <type_traits>

#include "runtime/arena.h"
#include "runtime/chan.h"
#include "runtime/fatal.h"
#include "runtime/lock.h"
#include "runtime/proc.h"
#include "stray/panic.h"
#include "stray/time.h"
#include "runtime/stw.h"
#include "runtime/timers.h"

namespace stray::detail {

struct rtimer {
  int64_t when = 0;    // deadline, steady clock ns
  int64_t period = 0;  // > 0: a ticker
  int32_t index = -1;  // position in the heap; -1: not scheduled
  rt::G* g = nullptr;  // sleep: the goroutine to ready
  hchan* c = nullptr;  // channel timer: where to send the time
  bool one_shot_owned = false;  // after(): the runtime frees it once fired
};

}  // namespace stray::detail

namespace stray::rt {
namespace {

using detail::rtimer;

// Deadlines are nanotime() ns; durations come in already saturated to the
// clock's nanoseconds (detail::saturate in stray/time.h).
static_assert(std::is_same_v<duration::period, std::nano>, "steady_clock ticks in ns");

// now + d, saturated: d <= 0 is now (fires at once), a d too long for the
// clock is kNever.
int64_t deadline(duration d) { return add_sat(nanotime(), d.count() > 0 ? d.count() : 0); }

struct Timers {
  Lock lock;
  rtimer** heap GUARDED_BY(lock) = nullptr;
  std::size_t n GUARDED_BY(lock) = 0;
  std::size_t cap GUARDED_BY(lock) = 0;
  std::atomic<uint32_t> wake{0};  // bumped when the earliest deadline moves up

  bool less(std::size_t a, std::size_t b) REQUIRES(lock) { return heap[a]->when < heap[b]->when; }
  void swap(std::size_t a, std::size_t b) REQUIRES(lock) {
    std::swap(heap[a], heap[b]);
    heap[a]->index = int32_t(a);
    heap[b]->index = int32_t(b);
  }
  void up(std::size_t i) REQUIRES(lock) {
    while (i > 0 && less(i, (i - 1) / 2)) {
      swap(i, (i - 1) / 2);
      i = (i - 1) / 2;
    }
  }
  void down(std::size_t i) REQUIRES(lock) {
    for (;;) {
      std::size_t l = 2 * i + 1, m = i;
      if (l < n && less(l, m)) m = l;
      if (l + 1 < n && less(l + 1, m)) m = l + 1;
      if (m == i) return;
      swap(i, m);
      i = m;
    }
  }

  void add_locked(rtimer* t) REQUIRES(lock) {
    if (n == cap) {
      std::size_t ncap = cap ? 2 * cap : 64;
      auto** nh = static_cast<rtimer**>(arena_alloc(ncap * sizeof(rtimer*)));
      for (std::size_t i = 0; i < n; i++) nh[i] = heap[i];
      arena_free(heap);
      heap = nh;
      cap = ncap;
    }
    t->index = int32_t(n);
    heap[n++] = t;
    up(n - 1);
    if (t->index == 0) {  // new earliest deadline: the timer thread must re-arm
      wake.fetch_add(1, std::memory_order_release);
      futex_wake(&wake, 1);
    }
  }

  // Removes t if scheduled; true if it was.
  bool remove_locked(rtimer* t) REQUIRES(lock) {
    if (t->index < 0) return false;
    std::size_t i = std::size_t(t->index);
    swap(i, n - 1);
    n--;
    t->index = -1;
    if (i < n) {
      down(i);
      up(i);
    }
    return true;
  }

  // Fires t; a sleeping goroutine is added to *sleepers instead, to be
  // readied in one batch once the lock is released.
  void fire_locked(rtimer* t, int64_t now, G** sleepers) REQUIRES(lock) {
    if (t->g) {
      t->g->schedlink = *sleepers;
      *sleepers = t->g;
      return;
    }
    time_point tp{std::chrono::duration_cast<duration>(std::chrono::nanoseconds(now))};
    chan_send(t->c, &tp, /*block=*/false);
    if (t->period > 0) {
      t->when = add_sat(t->when, t->period);
      if (t->when <= now) t->when = add_sat(now, t->period);  // missed ticks are dropped
      add_locked(t);  // at kNever if the next tick is past the clock's range
    } else if (t->one_shot_owned) {
      chan_release(t->c);
      arena_delete(t);
    }
  }

  [[noreturn]] void run() NO_THREAD_SAFETY_ANALYSIS {
    for (;;) {
      uint32_t seq = wake.load(std::memory_order_acquire);
      int64_t now = nanotime();
      int64_t next = -1;
      G* sleepers = nullptr;
      {
        LockGuard g(lock);
        while (n > 0 && heap[0]->when <= now) {
          rtimer* t = heap[0];
          remove_locked(t);
          fire_locked(t, now, &sleepers);
        }
        if (n > 0) next = heap[0]->when;
      }
      goready_list(sleepers);
      // next - now cannot overflow (now >= 0); for kNever it is centuries,
      // which the kernel accepts (and a new earlier timer cuts short).
      if (next < 0) futex_wait(&wake, seq);
      else futex_wait_for(&wake, seq, next - now);
    }
  }
};

std::atomic<Timers*> timers_started{nullptr};

// Starts the timer heap and its thread on first use, under the runtime's
// start lock (held across fork(): see proc.cc).
[[gnu::noinline]] Timers& start_timers() {
  die_if_forked_child();  // a child's timers would never fire
  LockGuard g(runtime_start_lock());
  if (Timers* t = timers_started.load(std::memory_order_relaxed)) return *t;
  auto* ts = arena_new<Timers>();
  std::thread([ts] {
    // The kernel's default 50 µs timer slack would delay every deadline.
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
    stw_thread_init();
    ts->run();
  }).detach();
  timers_started.store(ts, std::memory_order_release);
  return *ts;
}

Timers& timers() {
  if (Timers* t = timers_started.load(std::memory_order_acquire)) [[likely]] return *t;
  return start_timers();
}

bool add_timer_after_park(G*, void* t) {
  Timers& ts = timers();
  LockGuard g(ts.lock);
  ts.add_locked(static_cast<rtimer*>(t));
  return true;
}

// Removes t and drains its channel: no value of the old schedule remains.
bool stop_and_drain(rtimer* t) {
  Timers& ts = timers();
  LockGuard g(ts.lock);
  bool was = ts.remove_locked(t);
  time_point stale;
  chan_recv(t->c, &stale, /*block=*/false);
  return was;
}

void arm(rtimer* t, duration d, int64_t period) {
  die_if_forked_child();  // the timer thread is the parent's: this would never fire
  Timers& ts = timers();
  LockGuard g(ts.lock);
  t->when = deadline(d);
  t->period = period;
  ts.add_locked(t);
}

rtimer* new_chan_timer(const Chan<time_point>& c) {
  auto* t = arena_new<rtimer>();
  t->c = c.raw();
  return t;
}

// A ticker's period; Go's panic (msg) if it is not positive.
int64_t positive_period(duration d, const char* msg) {
  if (d <= duration::zero()) throw stray::panic(msg);
  return d.count();
}

}  // namespace

bool timers_pending() {
  Timers* ts = timers_started.load(std::memory_order_acquire);
  if (!ts) return false;
  LockGuard g(ts->lock);
  return ts->n > 0;
}

void timers_for_each(FnRef<void(detail::hchan* c, G* g)> fn) NO_THREAD_SAFETY_ANALYSIS {
  Timers* ts = timers_started.load(std::memory_order_acquire);
  if (!ts) return;
  for (std::size_t i = 0; i < ts->n; i++) fn(ts->heap[i]->c, ts->heap[i]->g);
}

int timer_threads() { return timers_started.load(std::memory_order_acquire) ? 1 : 0; }

}  // namespace stray::rt

namespace stray {

using namespace rt;

void sleep(duration d) {
  if (d <= duration::zero()) return;
  G* g = getg();
  auto* t = arena_new<detail::rtimer>();
  t->when = deadline(d);
  t->g = g;
  // The timer goes into the heap only once g is parked, so it cannot fire
  // at a goroutine that is still running.
  gopark(g, add_timer_after_park, t, WaitReason::sleep);
  arena_delete(t);
}

Chan<time_point> after(duration d) {
  auto c = make_chan<time_point>(1);
  rtimer* t = new_chan_timer(c);
  detail::chan_retain(t->c);  // the runtime's reference, dropped once fired
  t->one_shot_owned = true;
  arm(t, d, 0);
  return c;
}

Timer::Timer(duration d) : c_(make_chan<time_point>(1)), t_(new_chan_timer(c_)) { arm(t_, d, 0); }

Timer::~Timer() {
  stop_and_drain(t_);
  arena_delete(t_);
}

bool Timer::stop() { return stop_and_drain(t_); }

bool Timer::reset(duration d) {
  bool was = stop_and_drain(t_);
  arm(t_, d, 0);
  return was;
}

Ticker::Ticker(duration d) : c_(make_chan<time_point>(1)), t_(nullptr) {
  int64_t p = positive_period(d, "non-positive interval for NewTicker");  // before allocating: it may throw
  t_ = new_chan_timer(c_);
  arm(t_, d, p);
}

Ticker::~Ticker() {
  stop_and_drain(t_);
  arena_delete(t_);
}

void Ticker::stop() { stop_and_drain(t_); }

void Ticker::reset(duration d) {
  int64_t p = positive_period(d, "non-positive interval for Ticker.Reset");  // before stopping: it may throw
  stop_and_drain(t_);
  arm(t_, d, p);
}

}  // namespace stray
