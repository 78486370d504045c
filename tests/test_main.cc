// test_main.cc — main() of every test binary (stray_test in
// tests/CMakeLists.txt, in place of gtest_main): the project's own leak
// check guarding its own tests (STYLE 12), through the listener users get
// (stray/gtest.h: stray::testing::install_leak_listener).
//
// After each test, the goroutines charged to it (made by its thread, its
// plain threads, and transitively their goroutines) must be gone: one a
// pass proves leaked fails the test at once; others are waited for up to
// the default 5 s (stray::testing::max_wait), far beyond what a worker
// thread waits for a CPU when ctest runs two tests at once under ASan or
// TSan, far below ctest's 600 s timeout. A test that made no goroutines, or
// whose goroutines are gone, costs one load of a counter: no pass, and the
// runtime is never started by the check (fork_test's fork-before-the-runtime
// tests need a process with no runtime thread). A test that leaves
// goroutines on purpose says so with stray::test::leaves_goroutines(why)
// (test_util.h), and what it leaves is never blamed on another test.
// Under ThreadSanitizer, where passes are not supported, the check waits by
// count and fails with the count alone.
//
// Where the check stays out:
// * A threadsafe death test re-runs the test in a fresh process that ends
//   inside the death-test statement: OnTestEnd never runs there.
// * A fork() child that returned into GoogleTest would be a copy whose
//   goroutines are not its own: the listener checks only in the process
//   the test started in.
#include <cstdlib>

#include "stray/gtest.h"

namespace {

// Every test process runs with the false-positive oracle on
// (STRAY_LEAK_ORACLE=1; a user's setting wins), set before any constructor
// can start the runtime. Not through ctest's ENVIRONMENT: CMake 3.25's
// gtest_discover_tests keeps only the first element of a property's list,
// and that one carries STRAY_PROCS for the processor sweeps.
[[gnu::constructor(101)]] void oracle_on() { setenv("STRAY_LEAK_ORACLE", "1", 0); }

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  stray::testing::install_leak_listener();
  return RUN_ALL_TESTS();
}
