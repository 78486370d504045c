// leftover_test.cc — the suite's goroutine check (test_main.cc) against
// tests that leave goroutines behind: one that does not say so fails, and
// its failure names each goroutine with its state and function; one that
// says so (stray::test::leaves_goroutines) passes.
//
// Such a test must end in a process of its own: each test here runs this
// binary again with kChildEnv set, which registers the LeftoverChild tests
// (never registered otherwise, so ctest does not list them), and reads what
// that run printed and how it ended.
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "leak_test.h"
#include "test_util.h"

namespace {

constexpr const char* kChildEnv = "STRAY_LEFTOVER_TEST_CHILD";

[[gnu::noinline]] void blocked_on_a_dropped_channel(stray::Chan<int> c) { (void)c.recv(); }
[[gnu::noinline]] void blocked_on_a_kept_channel(stray::Chan<int> c) { (void)c.recv(); }

// Leaves two goroutines blocked for good: one on a channel only its own
// stack holds (leaked), one on a channel a global keeps (only waiting).
class LeavesTwoBlockedGoroutines : public ::testing::Test {
  void TestBody() override {
    static stray::Chan<int> kept = stray::make_chan<int>();
    stray::test::on_goroutine([] { stray::go(blocked_on_a_dropped_channel, stray::make_chan<int>()); });
    stray::go(blocked_on_a_kept_channel, kept);
    stray::test::wait_until_waiting(2, stray::rt::WaitReason::chan_receive);
  }
};

class SaysItLeavesAGoroutine : public ::testing::Test {
  void TestBody() override {
    stray::test::leaves_goroutines("the check must let this one pass");
    stray::go(blocked_on_a_dropped_channel, stray::make_chan<int>());
    stray::test::wait_until_waiting(1, stray::rt::WaitReason::chan_receive);
  }
};

template <class T>
void register_child(const char* name) {
  ::testing::RegisterTest("LeftoverChild", name, nullptr, nullptr, __FILE__, __LINE__,
                          []() -> ::testing::Test* { return new T; });
}

[[maybe_unused]] const bool children_registered = [] {
  if (!getenv(kChildEnv)) return false;
  register_child<LeavesTwoBlockedGoroutines>("LeavesTwoBlockedGoroutines");
  register_child<SaysItLeavesAGoroutine>("SaysItLeavesAGoroutine");
  return true;
}();

// What a run of this binary with kChildEnv set and only LeftoverChild.<name>
// printed (stdout and stderr), and its exit status.
struct ChildRun {
  std::string out;
  int exit_status = -1;
};

ChildRun run_child(const std::string& name) {
  std::string cmd = std::string(kChildEnv) + "=1 '" + std::filesystem::read_symlink("/proc/self/exe").string() +
                    "' --gtest_filter=LeftoverChild." + name + " 2>&1";
  ChildRun r;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  for (std::size_t n; (n = fread(buf, 1, sizeof buf, p)) > 0;) r.out.append(buf, n);
  int st = pclose(p);
  if (WIFEXITED(st)) r.exit_status = WEXITSTATUS(st);
  return r;
}

bool has(const std::string& out, const std::string& s) { return out.find(s) != std::string::npos; }

TEST(Leftover, ATestThatLeavesGoroutinesFailsNamingThem) {
  STRAY_SKIP_WITHOUT_REEXEC();
  ChildRun r = run_child("LeavesTwoBlockedGoroutines");
  EXPECT_EQ(r.exit_status, 1) << r.out;
  EXPECT_TRUE(has(r.out, "[  FAILED  ] LeftoverChild.LeavesTwoBlockedGoroutines")) << r.out;
  EXPECT_TRUE(has(r.out, "the test left 2 goroutine(s) behind: 2 exist after waiting 5 s, 0 did when it started."))
      << r.out;
#if !defined(__SANITIZE_THREAD__)  // the check lists goroutines only where passes run
  EXPECT_TRUE(has(r.out, "[chan receive (leaked)]\n  (anonymous namespace)::blocked_on_a_dropped_channel(")) << r.out;
  EXPECT_TRUE(has(r.out, "[chan receive]\n  (anonymous namespace)::blocked_on_a_kept_channel(")) << r.out;
  EXPECT_TRUE(has(r.out, "created by (anonymous namespace)::LeavesTwoBlockedGoroutines::TestBody() ")) << r.out;
#endif
}

TEST(Leftover, ATestThatSaysItLeavesGoroutinesPasses) {
  STRAY_SKIP_WITHOUT_REEXEC();
  ChildRun r = run_child("SaysItLeavesAGoroutine");
  EXPECT_EQ(r.exit_status, 0) << r.out;
  EXPECT_TRUE(has(r.out, "[  PASSED  ] 1 test.")) << r.out;
}

}  // namespace
