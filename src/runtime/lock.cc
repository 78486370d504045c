// lock.cc — the slow path of Lock (see lock.h).
#include "runtime/lock.h"

namespace stray::rt {

std::atomic<bool> in_forked_child{false};

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
