// leakcase.h — the leak-case corpus (../shared/leak-cases.md: Go's own
// yardstick for its goroutineleak profile, src/runtime/testdata/
// testgoroutineleakprofile), re-expressed in C++ with stray's API.
//
// A case is a program: a function run as the corpus's "main goroutine"
// (as Go runs each case in its own process, main.go's cmds). It returns
// when Go's version would take its profile; the runner then yields ten
// times (Go's yieldCount) and runs a leak pass. Objects the Go original
// allocates on its heap stay heap objects here (new / make_shared): the
// corpus measures how far the detector reaches, and C++ programs hold their
// channels in heap objects.
//
// A leak site is the leaked goroutine's entry function (its bottom frame,
// just above "created by") and its wait reason, written "entry [reason]";
// a case expects sites as regular expressions over that string, as Go's
// goroutineleakprofile_test.go does.
//
// Judging (leakcases.cc): S (strict) — 3 runs with one processor; every
// expected site appears in at least one run and nothing else is reported.
// F (flaky) — 11 runs (3 with STRAY_LEAKCASES_QUICK=1) with the default
// processors; only a report outside the expected set fails. A report
// outside the expected set is a false positive and always fails.
//
// Known misses: expected sites stray does not find yet (a channel or Mutex
// the Go original keeps in a heap object: today the malloc heap is a root,
// issue 12). A case passes without them; a strict case fails once one is
// found, so the list only shrinks (a flaky case only notes it: its sites
// may or may not occur).
//
// Names: the corpus is built with -fno-ipa-icf. GCC's identical code
// folding (on at -O2) merges identical functions, so a goroutine running a
// twin's body is named after the survivor and one case's leak could pass
// for another's expected site.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "stray/stray.h"

namespace leakcases {

enum class Kind { strict, flaky };

struct Case {
  // Default member initializers throughout: cases name only the fields
  // they need (designated initializers) without -Wmissing-field-initializers.
  std::string name{};                      // Go's case name (Cockroach584, NilRecv, ...)
  Kind kind = Kind::strict;
  std::function<void()> run{};             // the case's main goroutine
  std::vector<std::string> expected{};     // regexes over "entry [reason]"
  std::chrono::milliseconds settle{0};     // Go's extra sleep before the profile
  std::vector<std::string> known_misses{};  // of `expected`, not found today
};

// Adds a case to the corpus (static registration: see LEAK_CASE).
bool add(Case c);

// Go's defer: runs f when the scope ends (`Defer d{[&] { mu.unlock(); }};`).
template <class F>
struct Defer {
  F f;
  ~Defer() { f(); }
};
template <class F>
Defer(F) -> Defer<F>;  // clang 14 deduces no aggregate's arguments by itself

// Go's math/rand.Intn (and Int31n): a number in [0, n), randomly seeded
// per thread.
int rand_intn(int n);

// Ten yields of the calling goroutine (Go's yieldCount), for cases that
// settle inside their own body as Go's do in a defer.
void settle();

}  // namespace leakcases

// Pattern pieces for cases in leakcases::(anonymous namespace): ENTRY(fn)
// anchors a goroutine's entry at function fn, LAMBDA matches a lambda's
// call operator in either form the symbolizer gives — inlined into the
// goroutine's start, named from the debug info ("{lambda}::operator()"),
// or called from there, by its linkage name ("{lambda()#1}::operator()()
// const").
#define ENTRY(fn) R"(^leakcases::\(anonymous namespace\)::)" fn
#define LAMBDA R"(::\{lambda(\(\)#[0-9]+)?\}::operator\(\)(\(\) const)?)"

#define LEAKCASE_CAT2(a, b) a##b
#define LEAKCASE_CAT(a, b) LEAKCASE_CAT2(a, b)
// LEAK_CASE(leakcases::Case{...}); at namespace scope registers a case.
#define LEAK_CASE(...) [[maybe_unused]] static const bool LEAKCASE_CAT(leakcase_, __LINE__) = leakcases::add(__VA_ARGS__)
