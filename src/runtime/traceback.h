// traceback.h — the call stacks of goroutines that are not running (Go:
// traceback.go), unwound from their saved registers.
//
// Unwinding uses libunwind (Debian libunwind8), which follows the DWARF CFI
// every object carries in .eh_frame, so code built without frame pointers
// unwinds too. It is loaded privately (dlopen with RTLD_LOCAL): linked
// normally, its _Unwind_* exports would replace libgcc's for the whole
// program's C++ exceptions.
//
// While the world is stopped: libunwind reads memory and calls
// dl_iterate_phdr, whose lock a stopped thread could hold; the detector
// therefore runs the stopped phase inside with_loader_lock, and libunwind
// uses its per-thread cache only (the global one takes a lock), set up by a
// walk of the pass thread's own stack before the world stops.
#pragma once

#include <sys/ucontext.h>

#include <cstdint>

#include "runtime/fn_ref.h"
#include "runtime/switch.h"

namespace stray::rt {

constexpr int kMaxFrames = 64;

// Loads libunwind. Call before stopping the world. False if unavailable
// (stacks are then reported empty).
bool traceback_init();

// Return addresses of a suspended context, innermost first: a parked
// goroutine's, from the registers its switch saved on its stack.
int traceback_parked(const Context& ctx, uintptr_t* pcs, int max);

// The frames of a thread interrupted by a signal: pcs[0] is the
// interrupted instruction itself, the rest return addresses.
int traceback_regs(const greg_t* gregs, uintptr_t* pcs, int max);

// Runs fn() while holding the dynamic loader's lock (the one
// dl_iterate_phdr takes; it is recursive, so fn may unwind).
void with_loader_lock(FnRef<void()> fn);

}  // namespace stray::rt
