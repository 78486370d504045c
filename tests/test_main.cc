// test_main.cc — main() of every test binary (stray_test in
// tests/CMakeLists.txt, in place of gtest_main), and the suite's goroutine
// check: the project's own detector guarding its own tests (STYLE 12).
//
// The check (LeftoverCheck): when a test ends, num_goroutine() must be back
// at the count the test started from, unless the test called
// stray::test::leaves_goroutines(why) (test_util.h).
//  1. Wait. A goroutine may still be finishing after the test's last
//     assertion (it sent its result and is returning). No event reports a
//     goroutine's exit to a plain thread, so the check polls the count,
//     sleeping 1 µs, doubling up to 10 ms, for at most kBound = 5 s. This is
//     the check's own mechanism, not a test's synchronisation. goleak
//     (go.uber.org/goleak) polls the same way, 20 tries with sleeps doubling
//     from 1 µs up to 100 µs, about 1.4 ms in all. Here ctest runs two
//     tests at once on shared cores, under ASan or TSan too, where a worker
//     thread may wait tens of milliseconds for a CPU; 5 s is far beyond
//     that and far below ctest's 600 s timeout. A test that left nothing
//     pays one load of the count; only one that really leaves a goroutine
//     waits out the bound.
//  2. Report. Still above the start count: a leak pass
//     (pprof::detect_leaks) marks the goroutines nothing can wake, and
//     pprof::goroutines lists every goroutine with its state (leaked, its
//     wait reason, runnable or running), stack and creation site. A pass
//     that cannot stop the world (PassError) leaves the count and its
//     reason; under ThreadSanitizer, which does not support passes, the
//     count alone.
//  3. Fail the test. googletest calls OnTestEnd while the test is still
//     the current one (TestInfo::Run clears current_test_info after the
//     listeners) and calls the listeners' OnTestEnd last-appended first, so
//     this listener, appended after the default printer, runs before the
//     printer writes the verdict: ADD_FAILURE_AT here is recorded in the
//     test's own result, printed under it, counted in the summary and the
//     exit status, and ctest reports that test failed. (Rejected: a fixture
//     TearDown needs every TEST to become a TEST_F; a non-zero exit at
//     OnTestProgramEnd fails the binary without naming the test.)
// Then the count at the test's end, whatever it is, is where the next test
// starts (a whole-binary run: what one test leaves is not blamed on the
// next).
//
// Where the check stays out:
// * It never starts the runtime: num_goroutine() reads a counter that
//   exists before the scheduler does (fork_test's fork-before-the-runtime
//   tests need a process with no runtime thread).
// * A threadsafe death test re-runs the test in a fresh process that ends
//   inside the death-test statement: OnTestEnd never runs there.
// * A fork() child that returned into googletest would be a copy whose
//   goroutines are not its own (and asking the runtime about them there
//   ends it: README "fork()"): the check runs only in the process the test
//   started in.
#include <gtest/gtest.h>

#include <cstdlib>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>

#include "stray/stray.h"
#include "test_util.h"

namespace {

using namespace std::chrono_literals;

constexpr auto kBound = 5s;
constexpr auto kMaxPause = 10ms;

// Step 1: the goroutine count once it is at most `target`, or when kBound
// has passed.
int wait_for_count(int target) {
  auto deadline = std::chrono::steady_clock::now() + kBound;
  std::chrono::nanoseconds pause = 1us;
  int n;
  while ((n = stray::num_goroutine()) > target && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(pause);
    pause = std::min<std::chrono::nanoseconds>(pause * 2, kMaxPause);
  }
  return n;
}

// Step 2: what the failure says.
std::string leftover_report(int start, int now) {
  std::ostringstream s;
  s << "the test left " << now - start << " goroutine(s) behind: " << now << " exist after waiting "
    << std::chrono::duration_cast<std::chrono::seconds>(kBound).count() << " s, " << start
    << " did when it started.";
#if defined(__SANITIZE_THREAD__)
  s << "\n(no list: leak passes are not supported under ThreadSanitizer)";
#else
  try {
    (void)stray::pprof::detect_leaks();  // marks the goroutines nothing can wake
    for (const stray::pprof::Goroutine& g : stray::pprof::goroutines()) s << "\n" << stray::test::describe(g);
  } catch (const stray::pprof::PassError& e) {
    s << "\n(no list: " << e.what() << ")";
  }
#endif
  s << "\nWait for them in the test (a channel, a WaitGroup); a test that leaves goroutines on purpose "
       "says so with stray::test::leaves_goroutines(why).";
  return s.str();
}

bool says_it_leaves_goroutines(const ::testing::TestInfo& t) {
  const ::testing::TestResult& r = *t.result();
  for (int i = 0; i < r.test_property_count(); i++)
    if (std::string_view(r.GetTestProperty(i).key()) == stray::test::kLeavesGoroutines) return true;
  return false;
}

class LeftoverCheck : public ::testing::EmptyTestEventListener {
  void OnTestStart(const ::testing::TestInfo&) override { pid_ = getpid(); }

  void OnTestEnd(const ::testing::TestInfo& t) override {
    if (getpid() != pid_) return;
    if (!says_it_leaves_goroutines(t)) {
      int now = wait_for_count(start_);
      if (now > start_) ADD_FAILURE_AT(t.file(), t.line()) << leftover_report(start_, now);
    }
    start_ = stray::num_goroutine();
  }

  pid_t pid_ = 0;  // the process the current test started in
  int start_ = 0;  // goroutines when the current test started
};

// Every test process runs with the false-positive oracle on
// (STRAY_LEAK_ORACLE=1; a user's setting wins), set before any constructor
// can start the runtime. Not through ctest's ENVIRONMENT: CMake 3.25's
// gtest_discover_tests keeps only the first element of a property's list,
// and that one carries STRAY_PROCS for the processor sweeps.
[[gnu::constructor(101)]] void oracle_on() { setenv("STRAY_LEAK_ORACLE", "1", 0); }

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  // After the default printer: see step 3.
  ::testing::UnitTest::GetInstance()->listeners().Append(new LeftoverCheck);
  return RUN_ALL_TESTS();
}
