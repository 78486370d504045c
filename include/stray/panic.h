// stray/panic.h — the exception a misused primitive throws (Go: panic).
//
// Every misuse that Go punishes with a run-time panic throws stray::panic
// with Go's exact message, for example:
//   "send on closed channel", "close of closed channel", "close of nil channel".
// It derives from std::logic_error: it signals a bug in the calling program,
// not a condition to recover from in normal control flow.
//
// An exception of any type that escapes a goroutine's function ends the
// program as Go does: "panic: <what()>" then "goroutine N [running]:" and the
// goroutine's stack at the throw point on stderr, and exit status 2.
#pragma once

#include <stdexcept>
#include <string>

// The public API: exported from libstray.so, whose other symbols are hidden.
#pragma GCC visibility push(default)

namespace stray {

class panic : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

}  // namespace stray

#pragma GCC visibility pop
