// futex.h — the runtime's futex wrappers (Go: os_linux.go futexsleep,
// futexwakeup): private futexes on 32-bit words, the one way the runtime's
// threads sleep on memory (Lock, Note, thread Gs, the stop-the-world rounds).
// Async-signal-safe: the stop handler sleeps and wakes with them.
#pragma once

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>

namespace stray::rt {

// Sleeps while *addr == val; may wake spuriously: callers loop on their
// condition.
inline void futex_wait(std::atomic<uint32_t>* addr, uint32_t val) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(addr), FUTEX_WAIT_PRIVATE, val, nullptr, nullptr, 0);
}

// Like futex_wait, giving up after `ns` nanoseconds.
inline void futex_wait_for(std::atomic<uint32_t>* addr, uint32_t val, int64_t ns) {
  timespec ts{time_t(ns / 1000000000), long(ns % 1000000000)};
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(addr), FUTEX_WAIT_PRIVATE, val, &ts, nullptr, 0);
}

// Wakes up to n sleepers on addr.
inline void futex_wake(std::atomic<uint32_t>* addr, int n) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(addr), FUTEX_WAKE_PRIVATE, n, nullptr, nullptr, 0);
}

}  // namespace stray::rt
