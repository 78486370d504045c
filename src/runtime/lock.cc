// lock.cc — futex wrappers and the slow path of Lock (see lock.h).
#include "runtime/lock.h"

#include "runtime/stw.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

namespace stray::rt {

std::atomic<bool> in_forked_child{false};

namespace {
thread_local int tls_nostop = 0;
thread_local uint32_t tls_stop_deferred = 0;  // a stop request's token, 0: none
}

[[gnu::noinline]] void nostop_enter() { ++tls_nostop; }

[[gnu::noinline]] void nostop_leave() {
  --tls_nostop;
  // The stop handler may run between the two lines: it then sees depth 0
  // and stops at once, or (before the decrement) leaves its token for us.
  std::atomic_signal_fence(std::memory_order_seq_cst);
  if (tls_stop_deferred != 0 && tls_nostop == 0) stw_deferred_stop();
}

[[gnu::noinline]] int nostop_depth() { return tls_nostop; }

void nostop_defer_stop(uint32_t token) { tls_stop_deferred = token; }

uint32_t nostop_take_deferred() {
  uint32_t t = tls_stop_deferred;
  tls_stop_deferred = 0;
  return t;
}

void futex_wait(std::atomic<uint32_t>* addr, uint32_t val) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(addr), FUTEX_WAIT_PRIVATE, val, nullptr,
          nullptr, 0);
}

void futex_wait_for(std::atomic<uint32_t>* addr, uint32_t val, int64_t ns) {
  timespec ts{time_t(ns / 1000000000), long(ns % 1000000000)};
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(addr), FUTEX_WAIT_PRIVATE, val, &ts, nullptr, 0);
}

void futex_wake(std::atomic<uint32_t>* addr, int n) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(addr), FUTEX_WAKE_PRIVATE, n, nullptr,
          nullptr, 0);
}

void Lock::lock_slow() {
  // Spin first, as Go's lock does (4 rounds of 30 pauses): holders never
  // block, so the lock is usually free again soon. Polling between rounds
  // only, not every pause, keeps the line from bouncing between cores.
  for (int round = 0; round < 4; round++) {
    for (int i = 0; i < 30; i++) cpu_relax();
    uint32_t c = 0;
    if (state_.load(std::memory_order_relaxed) == 0 &&
        state_.compare_exchange_weak(c, 1, std::memory_order_acquire))
      return;
  }
  // Then sleep, marking the lock contended (2) so unlock wakes us. In a
  // forked child the holder is a thread that did not survive the fork: the
  // lock will never be released.
  while (state_.exchange(2, std::memory_order_acquire) != 0) {
    die_if_forked_child();
    futex_wait(&state_, 2);
  }
}

}  // namespace stray::rt
