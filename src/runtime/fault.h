// fault.h — the runtime's handler for synchronous faults (Go:
// signal_unix.go's sighandler, for the one fault the runtime owns): a
// goroutine running into its stack's guard pages (stack.h).
//
// The handler runs on an alternate signal stack, which every worker thread
// gets at start (the overflowing stack has no room left for a signal
// frame). A fault in the running goroutine's guard ends the program as Go
// does:
//
//   runtime: goroutine stack exceeds 229120-byte limit
//   runtime: sp=0x... stack=[0x..., 0x...]
//   fatal error: stack overflow
//
//   goroutine 7 [running]:
//   <its frames>
//   created by ...
//
// with exit status 2. A fault in another stack's guard is reported as an
// unexpected fault address, also exit 2. Every other fault goes to the
// handler that was installed before stray's (the sanitizers', the
// application's), or, if there was none, ends the program with the default
// action, as it would without stray.
//
// The frames are symbolized (which allocates) after the fixed lines are out;
// an alarm bounds that step, so an overflow inside malloc cannot hang.
#pragma once

#include <cstdint>

#include "runtime/g.h"

namespace stray::rt {

// Installs the fault handler (once, when the runtime starts).
void signal_install();

// Worker threads call this at start: an alternate signal stack, unless the
// thread has one at least as large. Its memory is runtime memory (the stop
// signal's frames there hold scheduler registers); the leak pass scans the
// live part of any handler found running on it.
void signal_thread_init();

// The overflow report for g when it is found by the canary check at a
// switch (no fault, no registers): the fixed lines and the creation site.
[[noreturn]] void stack_overflow(const G* g);

}  // namespace stray::rt
