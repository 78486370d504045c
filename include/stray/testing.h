// stray/testing.h — leak checks for tests (Go: go.uber.org/goleak's Find,
// VerifyNone and options, upgraded by the goroutineleak profile's verdict).
// No test framework needed; stray/gtest.h adds GoogleTest glue on top.
//
// find() lists the goroutines a test should not have left behind, in two
// kinds:
// * leaked: a leak pass proved that nothing can ever wake them
//   (pprof::detect_leaks). Reported at once, with no retry; goroutines of
//   the scope still runnable or running then get up to 100 ms to block or
//   end, so that the report says what they became.
// * still running: alive, and not (yet) proven leaked — running, runnable,
//   or blocked on something still reachable (a channel a global holds).
//   These may be about to finish, so find() retries under the retry policy
//   (default: max_wait(5 s)), passing at once when they are gone, and
//   reports those still there when the policy gives up.
// A goroutine leaked by an earlier check stays leaked, and is listed again
// by later ones unless an option excludes it (ignore_current, or the
// per-test attribution below).
//
// Which goroutines count: every live goroutine, except
// * stray's own service goroutines (a Context's deadline waiter);
// * those an option or a suppression excludes;
// * while a TestChecker runs tests (the GoogleTest listener has one), those
//   not charged to the current test. A goroutine is charged to the test
//   running when a plain thread created it, or to its creator goroutine's
//   test (transitively): a check after test B does not blame B for what
//   test A left behind, even while A's goroutines are still running.
//   Between tests, the goroutines charged to no test count.
//
// Suppressions a library can ship, in the manner of LeakSanitizer's: a file
// named by STRAY_LEAK_SUPPRESSIONS, and the text a program or library
// returns from the weak hook stray_leak_suppressions(). One pattern a line;
// blank lines and lines starting with '#' are skipped; an optional "leak:"
// prefix is accepted (LeakSanitizer's files). A goroutine is suppressed
// when a pattern matches any of its frames' function or file, or its
// creation site's: the pattern matches as a substring, '*' matches any run
// of characters, '^' and '$' anchor it at the start and end.
//
// Matching a function name (ignore_*_function, ignore_created_by): the
// demangled name, either whole ("ns::worker(stray::Chan<int>)") or without
// its parameter list ("ns::worker").
//
// Passes: a check that finds goroutines to list runs leak passes, which
// stop the world (stray/pprof.h). Where passes are not supported
// (ThreadSanitizer builds) or fail, find() throws pprof::PassError; inside
// a test it first still waits for the test's goroutines by count (the
// runtime counts each test's live goroutines), and passes if they finish.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "stray/pprof.h"

#pragma GCC visibility push(default)

namespace stray::testing {

// A goroutine find() reports: `leaked` true if proven leaked, false if
// still running. id, state (the wait reason), how long it has waited,
// frames (innermost first), creator id (parent_id) and creation site.
using Goroutine = pprof::Goroutine;

// verify_none()'s failure: what() is the report (format_report).
class LeakError : public std::runtime_error {
 public:
  LeakError(const std::string& report, std::vector<Goroutine> gs)
      : std::runtime_error(report), goroutines(std::move(gs)) {}
  std::vector<Goroutine> goroutines;
};

// A retry policy: called after attempt number `attempt` (0, 1, ...) with
// the time waited so far; returns how long to wait before the next
// attempt, or nullopt to give up and report what is still running.
using RetryPolicy = std::function<std::optional<std::chrono::nanoseconds>(int attempt, std::chrono::nanoseconds waited)>;

// One option for find / verify_none / the GoogleTest listener.
class Option {
 public:
  struct Impl;
  explicit Option(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  const Impl& impl() const { return *impl_; }

 private:
  std::shared_ptr<const Impl> impl_;
};

// goleak: IgnoreTopFunction. Skips goroutines whose innermost frame is name.
Option ignore_top_function(std::string name);
// goleak: IgnoreAnyFunction. Skips goroutines with name in any frame, the
// creation site included.
Option ignore_any_function(std::string name);
// goleak: IgnoreCreatedBy. Skips goroutines whose go() call is in name.
Option ignore_created_by(std::string name);
// goleak: IgnoreCurrent. Skips the goroutines alive when the option is made.
Option ignore_current();
// Retry still-running goroutines for at most d in all (pauses from 1 µs
// doubling up to 10 ms). max_wait(0): one look, no retry. Default 5 s.
Option max_wait(std::chrono::nanoseconds d);
// Retry under a policy of the caller's.
Option retry(RetryPolicy policy);
// Only proven leaks count: still-running goroutines are retried as usual
// (one may block for good meanwhile) but never reported. Never flaky on a
// slow machine; misses leaks a pass cannot prove (a channel a global holds).
Option proven_only();
// goleak: Cleanup. fn(code) runs after verify_none's check (code 0 if it
// passed, 1 if not) or, given to the GoogleTest listener, after the whole
// program's check (code: the run's outcome). find() rejects it.
Option cleanup(std::function<void(int)> fn);
// goleak: RunOnFailure. The GoogleTest listener's whole-program check runs
// even when tests failed (by default it is skipped then). Per-test checks
// always run, after failed tests too.
Option run_on_failure();

// The unexpected goroutines: proven leaked first, then still running, each
// by id. Throws pprof::PassError (see above) and std::invalid_argument for
// cleanup().
std::vector<Goroutine> find_with(const std::vector<Option>& options);
// Throws LeakError with the report if find_with finds any.
void verify_none_with(const std::vector<Option>& options);

template <class... O>
  requires(std::is_convertible_v<O, Option> && ...)
std::vector<Goroutine> find(O&&... options) {
  return find_with(std::vector<Option>{Option(std::forward<O>(options))...});
}

template <class... O>
  requires(std::is_convertible_v<O, Option> && ...)
void verify_none(O&&... options) {
  verify_none_with(std::vector<Option>{Option(std::forward<O>(options))...});
}

// The report for gs: one block per distinct (creation site, wait site,
// state), most goroutines first, in Go's debug=2 style (a goroutine
// blocked in Mutex::lock also says "; the Mutex is held by goroutine N"):
//   2 goroutines [chan receive (leaked), waiting for 2.1 s] (ids 7, 9):
//   worker(stray::Chan<int>)
//   	/src/server.cc:42
//   created by serve() in goroutine 1
//   	/src/server.cc:30
// then a summary line:
//   stray: 3 leaked goroutines in 2 places (1 still running)
// Empty for no goroutines.
std::string format_report(const std::vector<Goroutine>& gs);

// The per-test protocol of a test-framework integration (stray/gtest.h is
// one; framework-neutral): one object for the whole run, told when each
// test starts and ends, on the thread that runs the tests.
class TestChecker {
 public:
  explicit TestChecker(std::vector<Option> options = {});
  ~TestChecker();
  TestChecker(const TestChecker&) = delete;
  TestChecker& operator=(const TestChecker&) = delete;

  // From here, goroutines that plain threads create are charged to a new
  // test called name, and find() inside it considers only that test's.
  void test_started(std::string_view name);
  // Checks the test begun last with find(options) — unless check is false
  // (a test that leaves goroutines on purpose) — and ends it. Returns the
  // failure report, empty if none (a pass that failed: its reason).
  std::string test_finished(bool check = true);
  // The whole program's check (goleak: VerifyTestMain), over the goroutines
  // charged to no test: made before the first test, between tests, by
  // global set-up. Skipped (empty) when the run failed (passed false),
  // unless run_on_failure(). Then the cleanup() functions run, with 0 if
  // the run passed and this check found nothing, 1 otherwise. Returns the
  // failure report, empty if none.
  std::string program_finished(bool passed);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace stray::testing

// The weak hook (see above): a program or library defines it to return its
// suppressions, one pattern a line. LeakSanitizer: __lsan_default_suppressions.
extern "C" [[gnu::weak]] const char* stray_leak_suppressions();

#pragma GCC visibility pop
