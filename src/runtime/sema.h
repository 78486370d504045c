// sema.h — semaphores keyed by address, the sleeping half of every sync
// primitive (Go: sema.go, semacquire/semrelease and notifyList).
//
// A semaphore is a uint32_t counter somewhere in user memory (inside a
// Mutex, a WaitGroup, ...). Goroutines that must wait on it sleep in a
// bucket of a fixed hash table (in the runtime arena), keyed by the
// counter's address, and record that address as what they wait on: the leak
// detector's rule is that whoever can reach that memory may wake them.
//
// Invariants:
// * A bucket's `nwait` counts the waiters queued on any of its keys plus
//   those about to queue (they add themselves before re-checking the count,
//   so a release that sees nwait == 0 may skip the bucket lock: no lost
//   wake-up).
// * semrelease never dereferences `addr` after its atomic increment, so the
//   woken party may free the object as soon as it has the semaphore.
// Locks: a bucket lock is a leaf of lock.h's order; nothing else is taken
// under it.
#pragma once

#include <atomic>
#include <cstdint>

#include "runtime/g.h"

namespace stray::rt {

// Waits until *addr > 0, then decrements it (Go: semacquire1). lifo: queue
// at the head (a waiter that already waited once: Mutex starvation rules).
void semacquire(std::atomic<uint32_t>* addr, bool lifo, WaitReason reason);

// Increments *addr and wakes one waiter if any (Go: semrelease1). handoff:
// give the semaphore directly to the woken waiter (Mutex starvation mode)
// and yield to it.
void semrelease(std::atomic<uint32_t>* addr, bool handoff);

// Adds n to *addr with one atomic step and wakes up to n waiters: the object
// may be freed by a woken waiter right after the increment (WaitGroup's
// last done(), RWMutex's unlock releasing n readers).
void semrelease_n(std::atomic<uint32_t>* addr, uint32_t n);

// Condition-variable tickets (Go: notifyList). `wait` and `notify` live in
// the Cond; waiters sleep in the sema bucket of `key`.
uint32_t notify_list_add(std::atomic<uint32_t>* wait);
void notify_list_wait(const void* key, std::atomic<uint32_t>* notify, uint32_t ticket,
                      WaitReason reason);
void notify_list_notify_one(const void* key, std::atomic<uint32_t>* wait,
                            std::atomic<uint32_t>* notify);
void notify_list_notify_all(const void* key, std::atomic<uint32_t>* wait,
                            std::atomic<uint32_t>* notify);

// The goroutine holding the stray::Mutex whose semaphore is `key` (what a
// goroutine waiting with reason sync_mutex_lock waits on), 0 if unlocked
// or held by a plain thread; a snapshot (sync.cc). The Mutex must be live.
uint64_t mutex_holder(const void* key);

}  // namespace stray::rt
