// lock.h — the runtime's own locks and one-shot notes.
//
// Owns:
// * Lock: a futex mutex (Drepper's three-state design: 0 free, 1 held,
//   2 held with sleepers) that spins briefly before sleeping. It guards
//   runtime state only (channel internals, run queues, pools); a holder never
//   blocks on anything else, so hold times are a few hundred instructions.
// * Note: a one-shot futex event (Go's note): sleep until woken, then clear.
// * Every Lock holder is inside a no-stop section (stw.h), so a stopped
//   world never shows a half-updated channel or run queue.
// * in_forked_child (Go: inForkedChild): raised in the child of a fork()
//   taken while runtime threads existed (proc.cc "fork()"). None of them
//   exists there, so whatever would wait for one ends the child instead
//   (die_if_forked_child): Lock's sleeping path, Note::sleep, and the
//   scheduler's entries in proc.cc and leak.cc.
//
// Invariants:
// * Every Lock acquisition enters a no-stop section; every release leaves it.
//   A goroutine that parks holding a channel lock keeps the section open
//   across the switch to its worker's scheduler, which releases the lock
//   (same OS thread), so the count stays balanced per thread.
//
// THE LOCK ORDER — the one written list; every other file points here.
// Outer first; a thread holding one may take only locks below it:
//   1. leak.cc's pass lock (std::mutex): a pass starts with nothing else held.
//   2. proc.cc's start_lock (runtime start, held across fork()): taken with
//      nothing else held; under it only 5.. and the arena.
//   3. a context node's mu (std::mutex, context.cc): its bookkeeping and the
//      close of its done channel; never two nodes' at once.
//   4. the timer heap's lock (time.cc Timers::lock): timers fire under it.
//   5. channel locks: one, or several only through select's sellock, in
//      address order.
//   6. sched.lock (proc.cc) > gflock > allglock (g.cc).
//   7. leaves, nothing taken under them: sema bucket locks, the stack
//      region's lock, the arena's chunk and size-class locks, proc.cc's grow.
// No runtime lock is held while user code runs (callbacks, constructors of
// values, destructors).
#pragma once

#include <atomic>
#include <cstdint>

#include "runtime/arch.h"
#include "runtime/fatal.h"
#include "runtime/futex.h"
#include "runtime/stw.h"
#include "runtime/tsa.h"

namespace stray::rt {

// Set once, by proc.cc's pthread_atfork child handler, in the child's only
// thread; never set in a process that did not fork with the runtime
// running. A relaxed load is enough: no other thread exists to race with.
extern std::atomic<bool> in_forked_child;

// Ends a forked child whose runtime threads are gone (fatal.h), on the
// paths that would otherwise wait for one of them forever or hand one work
// that it will never do. A load and a never-taken branch, kept off the
// paths that complete by themselves (a buffered send with room, an
// uncontended Lock).
inline void die_if_forked_child() {
  if (in_forked_child.load(std::memory_order_relaxed)) [[unlikely]]
    fatal_forked_child();
}

class CAPABILITY("mutex") Lock {
 public:
  void lock() ACQUIRE() {
    nostop_enter();
    uint32_t c = 0;
    if (!state_.compare_exchange_strong(c, 1, std::memory_order_acquire)) lock_slow();
  }
  void unlock() RELEASE() {
    if (state_.exchange(0, std::memory_order_release) == 2) futex_wake(&state_, 1);
    nostop_leave();
  }

 private:
  void lock_slow();
  std::atomic<uint32_t> state_{0};
};

// RAII holder for Lock (std::lock_guard lacks the thread-safety annotations).
struct STRAY_TSA(scoped_lockable) LockGuard {
  explicit LockGuard(Lock& l) ACQUIRE(l) : l_(l) { l_.lock(); }
  ~LockGuard() RELEASE() { l_.unlock(); }
  LockGuard(const LockGuard&) = delete;
  LockGuard& operator=(const LockGuard&) = delete;

 private:
  Lock& l_;
};

// One-shot event: one sleeper, any number of wakers.
class Note {
 public:
  void sleep() {
    while (key_.load(std::memory_order_acquire) == 0) {
      die_if_forked_child();  // the waker is a thread that is gone
      futex_wait(&key_, 0);
    }
  }
  void wakeup() {
    key_.store(1, std::memory_order_release);
    futex_wake(&key_, 1);
  }
  void clear() { key_.store(0, std::memory_order_relaxed); }

 private:
  std::atomic<uint32_t> key_{0};
};

using arch::cpu_relax;

}  // namespace stray::rt
