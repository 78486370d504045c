// stw.h — stopping and restarting every thread of the process, for the leak
// detector (Go: stopTheWorld in proc.go; the signal protocol follows the
// Boehm collector and LeakSanitizer's StopTheWorld), and the no-stop
// sections that defer a stop.
//
// Owns the stop signal (a real-time signal, STRAY_STOP_SIGNAL, default
// SIGRTMIN+4), its handler, the per-thread register captures, and the
// per-thread no-stop counter: raised while the thread holds a runtime Lock
// or changes scheduler state (NoStop), so a stopped world never shows a
// half-parked goroutine or a half-updated channel.
//
// Protocol. The stopper lists /proc/self/task and sends each other thread
// the stop signal with rt_tgsigqueueinfo, carrying the round number and the
// thread's slot. The handler copies the interrupted registers (general
// purpose, vector, thread pointer) into the slot, publishes the round in
// the slot's `acked` word and sleeps on a futex until the round ends. The
// task list is re-read until no new thread appears. A thread that does not
// answer within the timeout (STRAY_STOP_TIMEOUT_MS, default 1000) makes the
// stop fail: the world is restarted and the caller reports why.
//
// Deferral. A thread inside a runtime no-stop section (below) does not stop
// in the handler: it records the request, and nostop_leave stops it when
// the section ends, capturing its registers with getcontext.
//
// Invariants while stopped: every listed thread but the stopper is parked in
// the handler (or in nostop_leave) with nostop depth 0, so no runtime Lock is
// held and no goroutine is half-parked. The stopper must not call malloc or
// take a lock another thread could hold until start_the_world.
//
// Lock order: the caller serialises stops (leak.cc's pass lock); nothing
// here takes a lock.
#pragma once

#include <sys/types.h>
#include <ucontext.h>

#include <cstddef>
#include <cstdint>

#include "runtime/arch.h"

namespace stray::rt {

class Scratch;

// One stopped thread's registers.
struct ThreadRegs {
  pid_t tid = 0;
  uintptr_t sp = 0;  // stack pointer at the interruption
  uintptr_t pc = 0;
  uintptr_t tp = 0;  // thread pointer (arch.h): reaches TLS and the DTV
  bool onstack = false;  // interrupted on its alternate signal stack (SS_ONSTACK)
  uintptr_t ss_lo = 0, ss_hi = 0;  // its alternate signal stack, if it has one
  arch::Regs regs = {};
  // The vector state as the kernel saved it (arch::vector_state); scanned
  // as words.
  alignas(64) unsigned char fp[4096] = {};  // x86-64 xsave: 2.7 KiB with AVX-512
  std::size_t fplen = 0;
};

struct World {
  ThreadRegs* threads = nullptr;  // every stopped thread but the stopper
  int n = 0;
  pid_t pid = 0;                  // the process (a snapshot's child has its own)
  pid_t self = 0;                 // the stopper's tid
  uintptr_t self_tp = 0;          // the stopper's thread pointer
  bool self_onstack = false;      // the stopper runs on its alternate signal stack
};

// Stops every other thread. On failure returns false, restarts the world,
// and writes a one-line reason naming the thread into why (NUL-terminated).
bool stop_the_world(World* w, Scratch& scratch, char* why, std::size_t whylen);

// Lets every thread stopped by stop_the_world run again.
void start_the_world(World* w);

// The stop signal's number.
int stop_signal();

// Writes "what: <error text>" into why, adding what a user can do about
// running out of file descriptors. Usable while the world is stopped.
void describe_errno(const char* what, int err, char* why, std::size_t whylen);

// The return address of a signal handler (glibc's __restore_rt, or a
// sanitizer's trampoline), as the stop handler saw it: the first word of
// each signal frame the kernel pushes. Found on a stack, it says a signal
// handler runs there. 0 until a stop signal has been handled.
uintptr_t sigreturn_trampoline();

// Runtime threads call this at start: unblocks the stop signal, which they
// may have inherited blocked from their creator.
void stw_thread_init();

// ---- no-stop sections ----

// Enter / leave the calling thread's no-stop section (nestable). Out of
// line on purpose: code that parks a goroutine can resume on another thread,
// and a thread-local address the compiler cached across the switch would
// name the old thread's counter. The outermost nostop_leave stops the
// thread if a stop request arrived inside the section.
void nostop_enter();
void nostop_leave();

// Drops a stop request deferred by the calling thread (a forked child's
// copy of its parent's request: that pass will never end here).
void nostop_drop_deferred();

// Scope guard for a scheduler state change that takes no Lock.
struct NoStop {
  NoStop() { nostop_enter(); }
  ~NoStop() { nostop_leave(); }
  NoStop(const NoStop&) = delete;
  NoStop& operator=(const NoStop&) = delete;
};

}  // namespace stray::rt
