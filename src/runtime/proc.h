// proc.h — the scheduler's interface to the rest of the runtime (Go: the
// parts of proc.go that chan.go and select.go call).
#pragma once

#include <cstdint>

#include "runtime/fn_ref.h"
#include "runtime/g.h"
#include "runtime/lock.h"

namespace stray::rt {

// The calling context's G: the running goroutine, or (on a plain thread) the
// thread's own thread G, created on first use. Never null.
G* getg();

// The running goroutine, or null on a plain thread.
G* current_goroutine();

// Parks the calling G (g == getg()) with the given wait reason. On a goroutine, switches
// to the worker's scheduler, which marks the G waiting and then calls
// unlockf(g, arg) (typically releasing the lock that guards the wait queue
// the G was put on); if unlockf returns false the G resumes at once.
// unlockf == nullptr: the G waits forever. On a thread G, blocks the thread.
// Returns when another party called goready(g).
void gopark(G* g, bool (*unlockf)(G*, void*), void* arg, WaitReason reason);

// Makes a waiting G runnable (on the caller's processor, next in line, as
// Go's ready does), or wakes a thread G's thread.
void goready(G* g);

// goready for a list of waiting Gs linked through schedlink: goroutines go
// to the global queue in one insertion with one wake-up; thread Gs are
// woken one by one.
void goready_list(G* head);

// The lock the runtime's threads start under (the workers, the timer
// thread); held across fork() so no child sees a half-started runtime.
Lock& runtime_start_lock();

// Monotonic clock (steady_clock) in nanoseconds: timer deadlines, mutex
// starvation.
int64_t nanotime();

// Monotonic coarse clock in nanoseconds (wait timestamps).
int64_t nanotime_coarse();

// A fast per-thread pseudo-random number (Go: cheaprand).
uint32_t cheaprand();

// ---- for the deadlock check (deadlock.cc) ----

// True when no processor has work: every P idle or stopped and the global
// run queue empty.
bool sched_quiescent();

// The worker threads started so far (one per P ever created).
int sched_workers();

// ---- for the leak detector; requires the world to be stopped ----

// A worker thread: its tid, the top of its scheduler frames (everything
// from there up to the end of its stack mapping is thread start-up state
// and TLS; below it only the runtime's scheduler runs) and the goroutine it
// is running, if any.
struct WorkerInfo {
  int tid;
  uintptr_t g0_top;
  G* curg;
};
int workers(WorkerInfo* out, int max);

}  // namespace stray::rt
