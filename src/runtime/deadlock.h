// deadlock.h — Go's whole-program deadlock check (Go: checkdead in proc.go):
// "fatal error: all goroutines are asleep - deadlock!" with every blocked
// thread's and goroutine's stack, exit status 2 (see deadlock.cc).
#pragma once

namespace stray::rt {

// A plain thread is about to sleep in gopark (its thread G already marked
// waiting): counts it and checks for a deadlock.
void thread_parking();
// ... and is awake again.
void thread_unparked();

// A processor is about to sleep: checks for a deadlock if a plain thread
// is blocked in stray.
void checkdead();

}  // namespace stray::rt
