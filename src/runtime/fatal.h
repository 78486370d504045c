// fatal.h — the runtime's "broken invariant" tier: print without allocating,
// then abort (Go: throw). User misuse throws stray::panic instead, except
// misuse that leaves no runtime to panic in (a forked child): that prints
// Go's "fatal error:" and exits with status 2 (Go: fatal).
#pragma once

namespace stray::rt {

// Writes "fatal error: <msg>" to stderr with write(2) and aborts.
[[noreturn]] void fatal(const char* msg);

// Ends the child of a fork() that used the runtime (lock.h
// die_if_forked_child): Go's "fatal error: stray: runtime used in a child
// process after fork()", a line saying what to do instead, exit status 2
// (_exit: no atexit handler, destructor or stdio flush runs in the broken
// child).
[[noreturn]] void fatal_forked_child();

// The third tier: internal consistency checks that cost too much to keep
// in release builds (Go's checks after a wake-up, "G waiting list is
// corrupted"). Built with -DSTRAY_DEBUG=ON (the sanitizer presets are);
// otherwise the condition is still compiled, so it stays correct, and folds
// away.
#if defined(STRAY_DEBUG) && STRAY_DEBUG
inline constexpr bool kDebugChecks = true;
#else
inline constexpr bool kDebugChecks = false;
#endif
#define STRAY_DCHECK(cond, msg)                                    \
  do {                                                             \
    if (::stray::rt::kDebugChecks && !(cond)) ::stray::rt::fatal(msg); \
  } while (0)

// Writes pieces to stderr with write(2); no allocation, safe anywhere.
void write_err(const char* s);
void write_err_u64(unsigned long long v);

}  // namespace stray::rt
