// stray/sync.h — mutual exclusion and coordination (Go: package sync).
//
// Every blocking call parks the calling goroutine, or blocks the calling
// thread when it is not a goroutine, with Go's semantics. A blocked
// goroutine records the address of the object it waits on: the leak
// detector reports it only if no live code can reach that object.
//
// These objects may live anywhere (globals, the heap, a goroutine's stack);
// their address matters, so they can be neither copied nor moved. An
// object must outlive every call on it. A WaitGroup may be destroyed as soon
// as wait() returns (the last done() touches it no more once a waiter can
// wake). A Mutex, RWMutex or Cond may not be destroyed while another thread
// may still be inside unlock()/signal() on it, even if the destroyer has
// since locked it: make the other party finish (e.g. signal a WaitGroup
// after unlocking) first. (Go's collector hides this; C++ does not.)
//
// Misuse throws stray::panic with Go's message.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <utility>

#include "stray/detail/runtime.h"
#include "stray/go.h"
#include "stray/panic.h"

// The public API: exported from libstray.so, whose other symbols are hidden.
#pragma GCC visibility push(default)

namespace stray {

namespace detail {
struct MutexView;  // the runtime's read-only view (src/runtime/sync.cc)
}  // namespace detail

// Go: sync.Mutex. BasicLockable + try_lock, so std::lock_guard and
// std::unique_lock work. Not recursive: locking it twice from one goroutine
// blocks forever (wait reason "sync.Mutex.Lock"). Fairness as in Go: normally
// a woken waiter competes with new arrivals (fast, unfair); a waiter that
// waited more than 1 ms switches the mutex to starvation mode, where unlock
// hands it straight to the oldest waiter. unlock() of an unlocked Mutex
// throws panic("sync: unlock of unlocked mutex"). A Mutex may be unlocked by
// another goroutine than the one that locked it, as in Go.
// Memory ordering: unlock() happens before the next lock() returns.
class Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void lock() { lock(detail::SyncWait::mutex_lock); }
  bool try_lock();
  void unlock();

  // The id of the goroutine that holds the lock (0: unlocked, or held by a
  // plain thread). A snapshot, for dumps and reports.
  std::uint64_t holder() const { return holder_.load(std::memory_order_relaxed); }

 private:
  friend class RWMutex;
  friend struct detail::MutexView;
  void lock(detail::SyncWait why) {
    std::int32_t unlocked = 0;
    if (state_.compare_exchange_strong(unlocked, kLocked, std::memory_order_acquire)) {
      holder_.store(goroutine_id(), std::memory_order_relaxed);
      return;
    }
    lock_slow(why);
    detail::keep_frame();
  }
  void lock_slow(detail::SyncWait why);
  void unlock_slow(std::int32_t state);

  static constexpr std::int32_t kLocked = 1;
  std::atomic<std::int32_t> state_{0};  // kLocked | woken | starving | waiters << 3
  std::atomic<std::uint32_t> sema_{0};
  std::atomic<std::uint64_t> holder_{0};
};

// Go: sync.RWMutex. Any number of readers or one writer. Writer preference:
// once a writer waits in lock(), new lock_shared() calls block until it has
// had its turn, so readers cannot starve writers. SharedLockable, so
// std::shared_lock works. Not recursive for readers either (a reader that
// locks again while a writer waits deadlocks, as in Go).
// Panics: "sync: RUnlock of unlocked RWMutex", "sync: Unlock of unlocked RWMutex".
// Wait reasons: "sync.RWMutex.RLock", "sync.RWMutex.Lock".
class RWMutex {
 public:
  RWMutex() = default;
  RWMutex(const RWMutex&) = delete;
  RWMutex& operator=(const RWMutex&) = delete;

  void lock() {
    lock_impl();
    detail::keep_frame();
  }
  bool try_lock();
  void unlock();
  void lock_shared() {
    lock_shared_impl();
    detail::keep_frame();
  }
  bool try_lock_shared();
  void unlock_shared();

 private:
  void lock_impl();
  void lock_shared_impl();
  static constexpr std::int32_t kMaxReaders = 1 << 30;
  Mutex w_;                                // held by a pending or active writer
  std::atomic<std::uint32_t> writer_sem_{0};
  std::atomic<std::uint32_t> reader_sem_{0};
  std::atomic<std::int32_t> reader_count_{0};  // negative: a writer is pending
  std::atomic<std::int32_t> reader_wait_{0};   // readers the writer still waits for
};

// Go: sync.WaitGroup. add(n) before starting work, done() when a piece
// finishes, wait() until the counter is zero. go(f) is Go 1.25's
// WaitGroup.Go: add(1), run f in a new goroutine, done() when f returns.
// Panics: "sync: negative WaitGroup counter", "sync: WaitGroup misuse: Add
// called concurrently with Wait", "sync: WaitGroup is reused before previous
// Wait has returned". Wait reason "sync.WaitGroup.Wait".
// Memory ordering: every done() happens before the wait() it unblocks returns.
class WaitGroup {
 public:
  WaitGroup() = default;
  WaitGroup(const WaitGroup&) = delete;
  WaitGroup& operator=(const WaitGroup&) = delete;

  void add(int delta);
  void done() { add(-1); }
  void wait() {
    wait_impl();
    detail::keep_frame();
  }

  template <class F>
  void go(F&& f) {
    add(1);
    stray::go(
        [this](std::decay_t<F> fn) {
          struct Done {
            WaitGroup* wg;
            ~Done() { wg->done(); }
          } d{this};
          fn();
        },
        std::forward<F>(f));
  }

 private:
  void wait_impl();
  std::atomic<std::uint64_t> state_{0};  // counter << 32 | waiters
  std::atomic<std::uint32_t> sema_{0};
};

// Go: sync.Cond, bound to a Mutex. wait() atomically unlocks the mutex and
// parks; on wake-up it locks the mutex again before returning, so callers
// re-check their condition in a loop. signal() wakes the longest-waiting
// goroutine, broadcast() all; both may be called with or without the mutex.
// Wait reason "sync.Cond.Wait".
class Cond {
 public:
  explicit Cond(Mutex& m) : l_(m) {}
  Cond(const Cond&) = delete;
  Cond& operator=(const Cond&) = delete;

  void wait() {
    wait_impl();
    detail::keep_frame();
  }
  void signal() { detail::notify_one(&wait_, &notify_); }
  void broadcast() { detail::notify_all(&wait_, &notify_); }

 private:
  void wait_impl();
  Mutex& l_;
  std::atomic<std::uint32_t> wait_{0};    // next ticket to hand out
  std::atomic<std::uint32_t> notify_{0};  // next ticket to wake
};

// Go: sync.Once. call(f) runs f the first time it is called on this Once;
// every other call waits until that first f has returned. If f throws, the
// Once still counts as done (Go: a panicking f is not retried) and the
// exception propagates to the first caller.
class Once {
 public:
  Once() = default;
  Once(const Once&) = delete;
  Once& operator=(const Once&) = delete;

  template <class F>
  void call(F&& f) {
    if (done_.load(std::memory_order_acquire)) return;
    std::lock_guard<Mutex> g(m_);
    if (done_.load(std::memory_order_relaxed)) return;
    struct SetDone {
      std::atomic<bool>& d;
      ~SetDone() { d.store(true, std::memory_order_release); }
    } set{done_};
    std::forward<F>(f)();
  }

 private:
  std::atomic<bool> done_{false};
  Mutex m_;
};

}  // namespace stray

#pragma GCC visibility pop
