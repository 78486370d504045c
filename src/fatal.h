// fatal.h — the runtime's "broken invariant" tier: print without allocating,
// then abort (Go: throw). User misuse throws stray::panic instead.
#pragma once

namespace stray::rt {

// Writes "fatal error: <msg>" to stderr with write(2) and aborts.
[[noreturn]] void fatal(const char* msg);

// Writes pieces to stderr with write(2); no allocation, safe anywhere.
void write_err(const char* s);
void write_err_u64(unsigned long long v);

}  // namespace stray::rt
