// sync.cc — Mutex, RWMutex, WaitGroup and Cond (Go: sync/mutex.go,
// rwmutex.go, waitgroup.go, cond.go), on the semaphores of sema.cc.
//
// The algorithms are Go's, state word for state word, so that fairness,
// starvation handling and the panics match:
// * Mutex.state_: bit 0 locked, bit 1 woken (a waiter is awake and
//   competing: unlock need not wake another), bit 2 starving, bits 3.. the
//   number of waiters. Normal mode: a woken waiter competes with newcomers;
//   a waiter that waited > 1 ms sets starving, and then unlock hands the
//   mutex straight to the first waiter (semrelease with handoff).
// * RWMutex: reader_count_ goes negative by kMaxReaders while a writer is
//   pending or active; reader_wait_ counts the readers the writer waits out.
// * WaitGroup.state_: counter in the high 32 bits, waiters in the low 32.
// * A waiter resumed by a reclaim (runtime/reclaim.cc) was woken the
//   ordinary way, by a release: it completes its acquisition, undoes it
//   and throws goroutine_leaked, leaving every counter as a waiter that
//   came and went would.
#include <cstddef>

#include "runtime/fatal.h"
#include "runtime/lock.h"
#include "runtime/proc.h"
#include "runtime/sema.h"
#include "stray/sync.h"

namespace stray {
namespace {

constexpr std::int32_t kWoken = 2;
constexpr std::int32_t kStarving = 4;
constexpr int kWaiterShift = 3;
constexpr std::int64_t kStarvationNs = 1000000;  // 1 ms, as Go

// Go's runtime_canSpin: a few rounds, and only if another processor can
// be running the holder.
bool can_spin(int iter) { return iter < 4 && stray::procs() > 1; }

void do_spin() {
  for (int i = 0; i < 30; i++) rt::cpu_relax();
}

rt::WaitReason reason_of(detail::SyncWait w) {
  switch (w) {
    case detail::SyncWait::mutex_lock: return rt::WaitReason::sync_mutex_lock;
    case detail::SyncWait::rwmutex_rlock: return rt::WaitReason::sync_rwmutex_rlock;
    case detail::SyncWait::rwmutex_lock: return rt::WaitReason::sync_rwmutex_lock;
    case detail::SyncWait::waitgroup_wait: return rt::WaitReason::sync_waitgroup_wait;
    case detail::SyncWait::cond_wait: return rt::WaitReason::sync_cond_wait;
  }
  return rt::WaitReason::none;
}

}  // namespace

namespace detail {

void sema_acquire(std::atomic<uint32_t>* addr, bool lifo, SyncWait why) {
  rt::semacquire(addr, lifo, reason_of(why));
}
void sema_release(std::atomic<uint32_t>* addr, bool handoff) { rt::semrelease(addr, handoff); }
void sema_release_n(std::atomic<uint32_t>* addr, uint32_t n) { rt::semrelease_n(addr, n); }

uint32_t notify_add(std::atomic<uint32_t>* wait) { return rt::notify_list_add(wait); }
void notify_wait(std::atomic<uint32_t>* notify, uint32_t ticket) {
  rt::notify_list_wait(notify, notify, ticket, rt::WaitReason::sync_cond_wait);
}
void notify_one(std::atomic<uint32_t>* wait, std::atomic<uint32_t>* notify) {
  rt::notify_list_notify_one(notify, wait, notify);
}
void notify_all(std::atomic<uint32_t>* wait, std::atomic<uint32_t>* notify) {
  rt::notify_list_notify_all(notify, wait, notify);
}

}  // namespace detail

// ---- Mutex ----

namespace detail {
struct MutexView {
  static const Mutex* of_sema(const void* key) {
    return reinterpret_cast<const Mutex*>(static_cast<const char*>(key) - offsetof(Mutex, sema_));
  }
};
}  // namespace detail

std::uint64_t rt::mutex_holder(const void* key) { return detail::MutexView::of_sema(key)->holder(); }

bool Mutex::try_lock() {
  std::int32_t old = state_.load(std::memory_order_relaxed);
  if (old & (kLocked | kStarving)) return false;
  if (!state_.compare_exchange_strong(old, old | kLocked, std::memory_order_acquire)) return false;
  holder_.store(goroutine_id(), std::memory_order_relaxed);
  return true;
}

void Mutex::lock_slow(detail::SyncWait why) {
  std::int64_t wait_start = 0;
  bool reclaimed = false;  // a reclaim woke us (rt reclaim.cc): acquire, undo, throw
  bool starving = false;
  bool awoke = false;
  int iter = 0;
  std::int32_t old = state_.load(std::memory_order_relaxed);
  for (;;) {
    // Spin while the holder may be running, announcing ourselves as woken
    // so unlock does not wake a sleeper to compete with us.
    if ((old & (kLocked | kStarving)) == kLocked && can_spin(iter)) {
      if (!awoke && !(old & kWoken) && (old >> kWaiterShift) != 0 &&
          state_.compare_exchange_strong(old, old | kWoken, std::memory_order_relaxed))
        awoke = true;
      do_spin();
      iter++;
      old = state_.load(std::memory_order_relaxed);
      continue;
    }
    std::int32_t next = old;
    if (!(old & kStarving)) next |= kLocked;  // starving: newcomers queue
    if (old & (kLocked | kStarving)) next += 1 << kWaiterShift;
    if (starving && (old & kLocked)) next |= kStarving;
    if (awoke) {
      if (!(next & kWoken)) rt::fatal("sync: inconsistent mutex state");
      next &= ~kWoken;
    }
    if (!state_.compare_exchange_weak(old, next, std::memory_order_acquire)) continue;
    if (!(old & (kLocked | kStarving))) break;  // got it
    bool lifo = wait_start != 0;  // waited before: back to the head of the queue
    if (wait_start == 0) wait_start = rt::nanotime();
    detail::sema_acquire(&sema_, lifo, why);
    reclaimed = reclaimed || rt::take_reclaim(rt::getg());
    starving = starving || rt::nanotime() - wait_start > kStarvationNs;
    old = state_.load(std::memory_order_relaxed);
    if (old & kStarving) {
      // Handed to us directly: take it and leave the waiter count.
      if ((old & (kLocked | kWoken)) || (old >> kWaiterShift) == 0)
        rt::fatal("sync: inconsistent mutex state");
      std::int32_t delta = kLocked - (1 << kWaiterShift);
      if (!starving || (old >> kWaiterShift) == 1) delta -= kStarving;  // leave starvation mode
      state_.fetch_add(delta, std::memory_order_acquire);
      break;
    }
    awoke = true;
    iter = 0;
  }
  holder_.store(goroutine_id(), std::memory_order_relaxed);
  if (reclaimed) {
    unlock();
    rt::throw_leaked(rt::getg(), reason_of(why));
  }
}

void Mutex::unlock() {
  holder_.store(0, std::memory_order_relaxed);
  std::int32_t next = state_.fetch_sub(kLocked, std::memory_order_release) - kLocked;
  if (next != 0) unlock_slow(next);
}

void Mutex::unlock_slow(std::int32_t next) {
  if (((next + kLocked) & kLocked) == 0) {
    state_.fetch_add(kLocked, std::memory_order_relaxed);  // undo before reporting
    throw panic("sync: unlock of unlocked mutex");
  }
  if (next & kStarving) {
    detail::sema_release(&sema_, /*handoff=*/true);
    return;
  }
  std::int32_t old = next;
  for (;;) {
    // Nobody to wake, or someone is already awake or has the lock.
    if ((old >> kWaiterShift) == 0 || (old & (kLocked | kWoken | kStarving))) return;
    std::int32_t n = (old - (1 << kWaiterShift)) | kWoken;
    if (state_.compare_exchange_weak(old, n, std::memory_order_relaxed)) {
      detail::sema_release(&sema_, false);
      return;
    }
  }
}

// ---- RWMutex ----

void RWMutex::lock_shared_impl() {
  if (reader_count_.fetch_add(1, std::memory_order_acquire) + 1 < 0) {
    detail::sema_acquire(&reader_sem_, false, detail::SyncWait::rwmutex_rlock);  // a writer is pending
    if (rt::take_reclaim(rt::getg())) {
      unlock_shared();
      rt::throw_leaked(rt::getg(), rt::WaitReason::sync_rwmutex_rlock);
    }
  }
}

bool RWMutex::try_lock_shared() {
  std::int32_t c = reader_count_.load(std::memory_order_relaxed);
  while (c >= 0) {
    if (reader_count_.compare_exchange_weak(c, c + 1, std::memory_order_acquire)) return true;
  }
  return false;
}

void RWMutex::unlock_shared() {
  std::int32_t r = reader_count_.fetch_sub(1, std::memory_order_release) - 1;
  if (r >= 0) return;
  if (r + 1 == 0 || r + 1 == -kMaxReaders) {
    reader_count_.fetch_add(1, std::memory_order_relaxed);
    throw panic("sync: RUnlock of unlocked RWMutex");
  }
  // A writer is pending: the last departing reader lets it in.
  if (reader_wait_.fetch_sub(1, std::memory_order_acq_rel) - 1 == 0)
    detail::sema_release(&writer_sem_, false);
}

void RWMutex::lock_impl() {
  w_.lock(detail::SyncWait::rwmutex_lock);  // first resolve competition with other writers
  // Announce the writer to readers, then wait for the active ones.
  std::int32_t r = reader_count_.fetch_sub(kMaxReaders, std::memory_order_acq_rel);
  if (r != 0 && reader_wait_.fetch_add(r, std::memory_order_acq_rel) + r != 0) {
    detail::sema_acquire(&writer_sem_, false, detail::SyncWait::rwmutex_lock);
    if (rt::take_reclaim(rt::getg())) {
      unlock();
      rt::throw_leaked(rt::getg(), rt::WaitReason::sync_rwmutex_lock);
    }
  }
}

bool RWMutex::try_lock() {
  if (!w_.try_lock()) return false;
  std::int32_t zero = 0;
  if (!reader_count_.compare_exchange_strong(zero, -kMaxReaders, std::memory_order_acquire)) {
    w_.unlock();
    return false;
  }
  return true;
}

void RWMutex::unlock() {
  std::int32_t r = reader_count_.fetch_add(kMaxReaders, std::memory_order_release) + kMaxReaders;
  if (r >= kMaxReaders) {
    reader_count_.fetch_sub(kMaxReaders, std::memory_order_relaxed);
    throw panic("sync: Unlock of unlocked RWMutex");
  }
  detail::sema_release_n(&reader_sem_, std::uint32_t(r));  // the readers that blocked
  w_.unlock();
}

// ---- WaitGroup ----

void WaitGroup::add(int delta) {
  std::uint64_t state =
      state_.fetch_add(std::uint64_t(std::int64_t(delta)) << 32, std::memory_order_acq_rel) +
      (std::uint64_t(std::int64_t(delta)) << 32);
  auto v = std::int32_t(state >> 32);
  auto w = std::uint32_t(state);
  if (v < 0) {
    state_.fetch_sub(std::uint64_t(std::int64_t(delta)) << 32, std::memory_order_relaxed);
    throw panic("sync: negative WaitGroup counter");
  }
  if (w != 0 && delta > 0 && v == delta)
    throw panic("sync: WaitGroup misuse: Add called concurrently with Wait");
  if (v > 0 || w == 0) return;
  // Counter reached zero with waiters: nobody may touch the state now but
  // us. Reset it and wake them all.
  if (state_.load(std::memory_order_relaxed) != state)
    throw panic("sync: WaitGroup misuse: Add called concurrently with Wait");
  state_.store(0, std::memory_order_relaxed);
  // One release for all waiters: a woken waiter may free the WaitGroup.
  detail::sema_release_n(&sema_, w);
}

void WaitGroup::wait_impl() {
  std::uint64_t state = state_.load(std::memory_order_acquire);
  for (;;) {
    if ((state >> 32) == 0) return;
    if (state_.compare_exchange_weak(state, state + 1, std::memory_order_acq_rel)) {
      detail::sema_acquire(&sema_, false, detail::SyncWait::waitgroup_wait);
      rt::throw_if_reclaimed(rt::getg(), rt::WaitReason::sync_waitgroup_wait);
      if (state_.load(std::memory_order_acquire) != 0)
        throw panic("sync: WaitGroup is reused before previous Wait has returned");
      return;
    }
  }
}

// ---- Cond ----

void Cond::wait_impl() {
  std::uint32_t t = detail::notify_add(&wait_);
  l_.unlock();
  detail::notify_wait(&notify_, t);
  // Taken before the relock, which may park and must not consume it: a
  // reclaimed wait returns by exception with l_ locked, as any would.
  bool reclaimed = rt::take_reclaim(rt::getg());
  l_.lock();
  if (reclaimed) rt::throw_leaked(rt::getg(), rt::WaitReason::sync_cond_wait);
}

}  // namespace stray
