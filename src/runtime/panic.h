// panic.h — ending the program when an exception escapes a goroutine (see
// panic.cc).
#pragma once

namespace stray::rt {

// Installs the std::terminate handler that prints Go's panic report for a
// goroutine (plain threads keep the previous handler). Called once, when the
// runtime starts.
void install_panic_handler();

}  // namespace stray::rt
