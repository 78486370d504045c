// stray/gtest.h — GoogleTest glue for stray/testing.h: a goroutine leak
// check after every test and once after the whole program (Go:
// goleak.VerifyNone in each test, goleak.VerifyTestMain), each goroutine
// charged to the test that made it.
//
//   int main(int argc, char** argv) {
//     ::testing::InitGoogleTest(&argc, argv);
//     stray::testing::install_leak_listener();
//     return RUN_ALL_TESTS();
//   }
//
// or link stray::gtest_main (this main) in place of GTest::gtest_main.
//
// After each test — a failed one too — the goroutines charged to it that
// find() reports fail it, with the report (stray/testing.h) as the failure
// message, in the test's own result. A test that leaves goroutines on
// purpose says so with stray::testing::leaves_goroutines(why). After the
// last test, the goroutines charged to no test (made by main, global
// set-up or between tests) are checked once: a failure there is the run's
// (an "ad hoc" failure: RUN_ALL_TESTS returns 1). Header-only: libstray
// does not depend on GoogleTest.
//
// What the listener needs from GoogleTest: OnTestEnd runs while the test
// is still the current one and before the default printer writes its
// verdict (listeners' end events run last-appended first), so
// ADD_FAILURE_AT there counts in the test's result.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "stray/testing.h"

namespace stray::testing {

// The test property leaves_goroutines() records (--gtest_output=xml lists it).
inline constexpr const char* kLeavesGoroutines = "stray_leaves_goroutines";

// Says that the running test leaves goroutines behind on purpose, and why;
// the listener then does not check it. Call it from the test body or its
// fixture's SetUp.
inline void leaves_goroutines(const char* why) { ::testing::Test::RecordProperty(kLeavesGoroutines, why); }

class LeakListener : public ::testing::EmptyTestEventListener {
 public:
  explicit LeakListener(std::vector<Option> options) : checker_(std::move(options)) {}

  void OnTestStart(const ::testing::TestInfo& t) override {
    pid_ = getpid();
    checker_.test_started(std::string(t.test_suite_name()) + "." + t.name());
  }

  void OnTestEnd(const ::testing::TestInfo& t) override {
    // A fork() child that returned into GoogleTest is a copy whose
    // goroutines are not its own: only the process the test began in checks.
    if (getpid() != pid_) return;
    std::string report = checker_.test_finished(!leaves(t));
    if (!report.empty()) ADD_FAILURE_AT(t.file(), t.line()) << "goroutines left behind by this test:\n" << report;
  }

  void OnTestIterationEnd(const ::testing::UnitTest& u, int) override {
    if (getpid() != pid_ && pid_ != 0) return;
    std::string report = checker_.program_finished(u.Passed());
    if (!report.empty()) ADD_FAILURE() << "goroutines left behind outside the tests:\n" << report;
  }

 private:
  static bool leaves(const ::testing::TestInfo& t) {
    const ::testing::TestResult& r = *t.result();
    for (int i = 0; i < r.test_property_count(); i++)
      if (std::string_view(r.GetTestProperty(i).key()) == kLeavesGoroutines) return true;
    return false;
  }

  TestChecker checker_;
  pid_t pid_ = 0;
};

// Appends the listener (once per process; call before RUN_ALL_TESTS).
template <class... O>
  requires(std::is_convertible_v<O, Option> && ...)
void install_leak_listener(O&&... options) {
  ::testing::UnitTest::GetInstance()->listeners().Append(
      new LeakListener(std::vector<Option>{Option(std::forward<O>(options))...}));
}

}  // namespace stray::testing

// A non-fatal failure with the report if find(options...) finds goroutines.
#define STRAY_EXPECT_NO_LEAKS(...)                                                                              \
  do {                                                                                                          \
    std::string stray_leak_report_ = ::stray::testing::format_report(::stray::testing::find(__VA_ARGS__));     \
    if (!stray_leak_report_.empty()) ADD_FAILURE() << "goroutines left behind:\n" << stray_leak_report_;       \
  } while (0)
