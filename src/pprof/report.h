// report.h — what report.cc offers the rest of the library beyond the
// public profiles: the goroutine list stray::testing filters
// (src/testing/testing.cc).
#pragma once

#include <vector>

#include "runtime/g.h"
#include "stray/pprof.h"

namespace stray::rt {

// A goroutine as the public record, and the account it is charged to.
struct Charged {
  pprof::Goroutine g;
  const Account* account = nullptr;
};

// Runs a leak pass and lists every live goroutine with its stack, leaked
// ones marked (as pprof::detect_leaks, which lists only those). Scrubs the
// caller's dead stack first (scrub_dead_stack). Throws pprof::PassError.
std::vector<Charged> charged_goroutines();

}  // namespace stray::rt
