// traceback.h — call stacks (Go: traceback.go): unwinding goroutines that
// are not running from their saved registers, and the one printer every
// stack stray shows goes through (panics, stack overflows, the deadlock
// report, the goroutine profiles and dumps).
//
// Printing shows the user's frames only, as Go hides runtime frames and
// goexit: frames inside stray (stray::…, Boost.Context's switch) at the top
// of a stack and the start-up frames under the goroutine's own function
// (stray's closure runner, the std::invoke machinery, unknown frames) are
// left out; a stack with nothing else is shown whole.
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

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/arch.h"
#include "runtime/fn_ref.h"
#include "runtime/mem.h"
#include "runtime/switch.h"
#include "runtime/symbolize.h"

namespace stray::rt {

constexpr int kMaxFrames = 64;

// Loads libunwind. Call before stopping the world. False if unavailable
// (stacks are then reported empty).
bool traceback_init();

// Walks of parked stacks kept for one pass (in its scratch memory): a
// stack of the same shape as a kept one — parked at the same place
// through the same calls — takes the kept walk's frames after a check of
// the slots the walk read, instead of a walk (traceback.cc says why that
// is exact). Null: out of scratch memory.
struct ParkedWalks;
ParkedWalks* parked_walks_new(Scratch& s);

// Return addresses of a suspended context, innermost first: a parked
// goroutine's, from the registers its switch saved on its stack. With
// walks, reuses and keeps walks there.
int traceback_parked(const Context& ctx, uintptr_t* pcs, int max, ParkedWalks* walks = nullptr);

// The frames of a thread interrupted by a signal: pcs[0] is the
// interrupted instruction itself, the rest return addresses.
int traceback_regs(const arch::Regs& regs, uintptr_t* pcs, int max);

// Runs fn() while holding the dynamic loader's lock (the one
// dl_iterate_phdr takes; it is recursive, so fn may unwind).
void with_loader_lock(FnRef<void()> fn);

// ---- printing (allocates and symbolizes: not while the world is stopped) ----

// The frames of pcs (innermost first) worth showing, inlined calls
// expanded. pc0_exact: pcs[0] is an interrupted instruction, not a return
// address. after: when a frame of that function is on the stack, only the
// frames below its innermost one count (a panic's stack under __cxa_throw).
std::vector<Frame> user_frames(const uintptr_t* pcs, int n, bool pc0_exact, const char* after = nullptr);

// Those frames in Go's dump format (format_frame each). elided: the walk
// stopped at its limit; Go's "...additional frames elided..." ends the text.
std::string stack_text(const uintptr_t* pcs, int n, bool pc0_exact, bool elided = false,
                       const char* after = nullptr);

}  // namespace stray::rt
