// panic.h — ending the program when an exception escapes a goroutine (see
// panic.cc).
#pragma once

#include <string>

namespace stray::rt {

// The running goroutine's frames in Go's dump format, from pcs (innermost
// first, as backtrace(3) returns them) outwards, ending at the goroutine's
// own function (the closure wrapper and the runtime's entry are left out).
// Frames up to and including the first one named `after` are dropped when
// it is given (the throw machinery); pcs[0] is an exact pc, not a return
// address, when first_exact (a faulting instruction). A list that fills
// the buffer (full) ends with Go's "...additional frames elided...".
std::string running_frames(void* const* pcs, int n, bool first_exact, const char* after, bool full);

// Installs the std::terminate handler that prints Go's panic report for a
// goroutine (plain threads keep the previous handler). Called once, when the
// runtime starts.
void install_panic_handler();

}  // namespace stray::rt
