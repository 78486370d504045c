// options.h — the runtime's environment switches (Go: GODEBUG and
// GOMAXPROCS; the table follows LeakSanitizer's lsan_flags.inc).
//
// Owns: the Options struct, its one parser and the help text, all expanded
// from the rows of options.inc. Every switch the runtime reads is a row
// there; no other file calls getenv, except heap.cc for its own row
// (malloc runs before the options can be parsed).
//
// Policy: a malformed or out-of-range value stops the program when the
// runtime starts, with one line naming the variable and what it accepts
// (`stray: STRAY_PROCS="abc": want an integer in 1..256`), exit status 2 —
// never a silent default. Options are parsed once, at the first call.
#pragma once

#include <cstdint>
#include <string>

namespace stray::rt {

struct Options {
#define STRAY_INT(field, env, dflt, lo, hi, dflt_text, help) int64_t field;
#define STRAY_BOOL(field, env, dflt, help) bool field;
#define STRAY_CHOICE(field, env, choices, help) int field;  // index into choices
#include "runtime/options.inc"
#undef STRAY_INT
#undef STRAY_BOOL
#undef STRAY_CHOICE
};

// The options, parsed from the environment at the first call (which stops
// the program on a bad value).
const Options& options();

// A value worked out at start-up that the table cannot show (the guard
// mode, the processors chosen for "default").
struct Effective {
  const char* what;
  std::string value;
};

// STRAY_OPTIONS=help: prints the table with the values in effect, then the
// given facts, to stderr.
void options_print_help(const Effective* facts, int n);

// The README's table of options (markdown rows), for the test that keeps
// the two in step.
std::string options_markdown();

}  // namespace stray::rt
