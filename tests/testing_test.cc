// testing_test.cc — stray/testing.h and the GoogleTest listener
// (stray/gtest.h), which every test binary here runs under (test_main.cc).
//
// Two kinds of tests:
// * In-process: find() and verify_none() inside a test, with each option.
//   Under the listener, find() considers only the current test's
//   goroutines, so each test sees just what it made; tests that leave
//   goroutines say so (leaves_goroutines).
// * Throwaway tests (TestingChild.*) that must fail or leave goroutines:
//   each runs in a child process (this binary again, with kChildEnv set,
//   which registers them; ctest never lists them), and the outer test
//   asserts on what the child printed and how it exited.

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "leak_test.h"
#include "stray/testing.h"

// The weak hook (stray/testing.h): this binary's own suppressions. The
// file named by STRAY_LEAK_SUPPRESSIONS adds to them (a child test sets it).
extern "C" const char* stray_leak_suppressions() {
  return "# suppressed by the hook\n"
         "leak:suppressed_by_hook\n"
         "\n"
         "   suppressed_*_glob   \n";
}

namespace {

using namespace std::chrono_literals;
using stray::testing::Goroutine;

constexpr const char* kChildEnv = "STRAY_TESTING_TEST_CHILD";

#define SKIP_WITHOUT_PASSES()                                                                             \
  if (stray::test::kNoPasses) GTEST_SKIP() << "leak passes are not supported under ThreadSanitizer"; \
  (void)0

std::atomic<int> l_recv{0}, l_send{0};

[[gnu::noinline]] void blocks_on_its_own_channel(stray::Chan<int> c) {
  AT(l_recv) (void)c.recv();
}
[[gnu::noinline]] void sends_on_its_own_channel(stray::Chan<int> c) {
  AT(l_send) c.send(1);
}
[[gnu::noinline]] void suppressed_by_hook(stray::Chan<int> c) { (void)c.recv(); }
[[gnu::noinline]] void suppressed_by_a_glob(stray::Chan<int> c) { (void)c.recv(); }
[[gnu::noinline]] void waits_on_a_kept_channel(stray::Chan<int> c) { (void)c.recv(); }

// A channel a global keeps: a goroutine blocked on it is alive but never
// proven leaked ("still running"). Each test closes it to let it go.
stray::Chan<int>& kept() {
  static stray::Chan<int> c = stray::make_chan<int>();
  return c;
}

// Starts f(args) from a goroutine of its own, so that no handle stays on
// this thread's stack, and waits until n goroutines block in reason.
template <class F>
[[gnu::noinline]] void leak(int n, stray::rt::WaitReason reason, F f) {
  int before = stray::rt::count_goroutines(stray::rt::Gstatus::waiting, reason) +
               stray::rt::count_goroutines(stray::rt::Gstatus::leaked, reason);
  stray::test::on_goroutine(f);
  stray::test::wait_until_waiting(before + n, reason);
}

bool has(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// ---- in-process ----

TEST(Testing, FindReportsAProvenLeakAtOnceWithItsSite) {
  SKIP_WITHOUT_PASSES();
  stray::test::leaves_goroutines("leaks one for find() to report");
  leak(1, stray::rt::WaitReason::chan_receive, [] { stray::go(blocks_on_its_own_channel, stray::make_chan<int>()); });
  std::vector<Goroutine> gs = stray::testing::find(stray::testing::max_wait(1h));  // proven: no waiting
  ASSERT_EQ(gs.size(), 1u) << stray::testing::format_report(gs);
  EXPECT_TRUE(gs[0].leaked);
  EXPECT_EQ(gs[0].state, "chan receive");
  ASSERT_FALSE(gs[0].stack.empty());
  EXPECT_EQ(gs[0].stack.front().line, l_recv.load());
  EXPECT_TRUE(has(gs[0].stack.front().function, "blocks_on_its_own_channel")) << gs[0].stack.front().function;
  EXPECT_NE(gs[0].parent_id, 0u);  // made by on_goroutine's goroutine
  EXPECT_TRUE(has(gs[0].created_by.function, "FindReportsAProvenLeakAtOnceWithItsSite")) << gs[0].created_by.function;
}

TEST(Testing, FindIsEmptyOnceTheTestsGoroutinesFinish) {
  stray::WaitGroup wg;
  for (int i = 0; i < 8; i++) wg.go([] { stray::yield(); });
  wg.wait();
  EXPECT_TRUE(stray::testing::find().empty());
}

TEST(Testing, EveryOptionExcludesWhatItNames) {
  SKIP_WITHOUT_PASSES();
  stray::test::leaves_goroutines("leaks goroutines for find() to filter");
  leak(1, stray::rt::WaitReason::chan_receive, [] { stray::go(blocks_on_its_own_channel, stray::make_chan<int>()); });
  leak(1, stray::rt::WaitReason::chan_send, [] { stray::go(sends_on_its_own_channel, stray::make_chan<int>()); });
  namespace t = stray::testing;
  std::string recv = "(anonymous namespace)::blocks_on_its_own_channel";
  std::string send = "(anonymous namespace)::sends_on_its_own_channel";
  EXPECT_EQ(t::find().size(), 2u);
  EXPECT_EQ(t::find(t::ignore_top_function(recv)).size(), 1u);
  EXPECT_EQ(t::find(t::ignore_top_function(recv + "(stray::Chan<int>)"), t::ignore_top_function(send)).size(), 0u);
  EXPECT_EQ(t::find(t::ignore_top_function("blocks_on_its_own_channel")).size(), 2u);  // a whole name, not a part
  EXPECT_EQ(t::find(t::ignore_any_function("stray::Chan<int>::recv() const")).size(), 2u)
      << "frames below the user's are not shown, so not matched";
  EXPECT_EQ(t::find(t::ignore_any_function(send)).size(), 1u);
  std::string creator = t::find().front().created_by.function;
  EXPECT_EQ(t::find(t::ignore_created_by(creator)).size(), 0u) << creator;
  EXPECT_EQ(t::find(t::ignore_any_function(creator)).size(), 0u) << "the created-by frame counts as any";
  EXPECT_EQ(t::find(t::ignore_current()).size(), 0u);
}

TEST(Testing, IgnoreCurrentKeepsGoroutinesMadeAfterIt) {
  SKIP_WITHOUT_PASSES();
  stray::test::leaves_goroutines("leaks goroutines for find() to filter");
  leak(1, stray::rt::WaitReason::chan_receive, [] { stray::go(blocks_on_its_own_channel, stray::make_chan<int>()); });
  stray::testing::Option before = stray::testing::ignore_current();
  leak(1, stray::rt::WaitReason::chan_send, [] { stray::go(sends_on_its_own_channel, stray::make_chan<int>()); });
  std::vector<Goroutine> gs = stray::testing::find(before);
  ASSERT_EQ(gs.size(), 1u);
  EXPECT_EQ(gs[0].state, "chan send");
}

TEST(Testing, SuppressionsFromTheHookMatchFramesAsPatterns) {
  SKIP_WITHOUT_PASSES();
  stray::test::leaves_goroutines("leaks goroutines for the suppressions");
  leak(3, stray::rt::WaitReason::chan_receive, [] {
    stray::go(suppressed_by_hook, stray::make_chan<int>());
    stray::go(suppressed_by_a_glob, stray::make_chan<int>());
    stray::go(blocks_on_its_own_channel, stray::make_chan<int>());
  });
  std::vector<Goroutine> gs = stray::testing::find();
  ASSERT_EQ(gs.size(), 1u) << stray::testing::format_report(gs);
  EXPECT_TRUE(has(gs[0].stack.front().function, "blocks_on_its_own_channel"));
}

// A goroutine the test lets go of at its end: blocked on kept(), alive but
// not provably leaked.
struct StillRunning {
  stray::WaitGroup wg;
  StillRunning() {
    kept() = stray::make_chan<int>();
    wg.go([c = kept()] { waits_on_a_kept_channel(c); });
    stray::test::wait_until_waiting(1, stray::rt::WaitReason::chan_receive);
  }
  ~StillRunning() {
    kept().close();
    wg.wait();
  }
};

TEST(Testing, AStillRunningGoroutineIsRetriedThenReportedAsSuch) {
  SKIP_WITHOUT_PASSES();
  StillRunning s;
  int calls = 0;
  std::vector<Goroutine> gs = stray::testing::find(stray::testing::retry([&](int attempt, std::chrono::nanoseconds) {
    EXPECT_EQ(attempt, calls);
    return ++calls < 4 ? std::optional<std::chrono::nanoseconds>(1ms) : std::nullopt;
  }));
  EXPECT_EQ(calls, 4);
  ASSERT_EQ(gs.size(), 1u);
  EXPECT_FALSE(gs[0].leaked);
  std::string report = stray::testing::format_report(gs);
  EXPECT_TRUE(has(report, "] (still running):\n")) << report;
  EXPECT_TRUE(has(report, "stray: 1 leaked goroutine in 1 place (1 still running)\n")) << report;
  EXPECT_EQ(stray::testing::find(stray::testing::proven_only(), stray::testing::max_wait(0s)).size(), 0u);
}

TEST(Testing, AGoroutineThatFinishesWhileRetriedIsNotReported) {
  auto release = stray::make_chan<int>();
  stray::WaitGroup wg;
  wg.go([release] { (void)release.recv(); });
  stray::go([release] {
    stray::sleep(20ms);  // the goroutine under test, not the test's own synchronisation
    release.send(1);
  });
  EXPECT_TRUE(stray::testing::find(stray::testing::max_wait(1h)).empty());
  wg.wait();
}

TEST(Testing, VerifyNoneThrowsTheReportAndRunsCleanup) {
  SKIP_WITHOUT_PASSES();
  namespace t = stray::testing;
  std::vector<int> codes;
  auto record = t::cleanup([&](int code) { codes.push_back(code); });
  EXPECT_NO_THROW(t::verify_none(record));
  stray::test::leaves_goroutines("leaks goroutines for verify_none");
  leak(3, stray::rt::WaitReason::chan_receive, [] {
    for (int i = 0; i < 3; i++) stray::go(blocks_on_its_own_channel, stray::make_chan<int>());
  });
  try {
    t::verify_none(record);
    ADD_FAILURE() << "verify_none did not throw";
  } catch (const t::LeakError& e) {
    std::string r = e.what();
    EXPECT_EQ(e.goroutines.size(), 3u);
    EXPECT_TRUE(has(r, "3 goroutines [chan receive (leaked)")) << r;
    EXPECT_TRUE(has(r, "(anonymous namespace)::blocks_on_its_own_channel(stray::Chan<int>)\n\t")) << r;
    EXPECT_TRUE(has(r, "stray: 3 leaked goroutines in 1 place\n")) << r;
  }
  EXPECT_EQ(codes, (std::vector<int>{0, 1}));
  EXPECT_THROW(t::find(record), std::invalid_argument);
  EXPECT_THROW(t::cleanup({}), std::invalid_argument);
  EXPECT_THROW(t::retry({}), std::invalid_argument);
}

TEST(Testing, AWaiterOnAMutexIsToldWhoHoldsIt) {
  SKIP_WITHOUT_PASSES();
  stray::test::leaves_goroutines("leaks a Mutex's holder and its waiter");
  auto holder = stray::make_chan<uint64_t>(1);
  leak(1, stray::rt::WaitReason::sync_mutex_lock, [holder] {
    auto m = std::make_shared<stray::Mutex>();
    auto locked = stray::make_chan<int>();
    stray::go([m, locked, holder] {
      m->lock();
      holder.send(stray::goroutine_id());
      locked.send(1);
      blocks_on_its_own_channel(stray::make_chan<int>());
    });
    (void)locked.recv();
    stray::go([m] { m->lock(); });
  });
  uint64_t id = *holder.recv();
  std::vector<Goroutine> gs = stray::testing::find();
  ASSERT_EQ(gs.size(), 2u) << stray::testing::format_report(gs);
  const Goroutine& waiter = gs[0].state == "sync.Mutex.Lock" ? gs[0] : gs[1];
  EXPECT_EQ(waiter.state, "sync.Mutex.Lock");
  EXPECT_EQ(waiter.lock_holder, id);
  std::string report = stray::testing::format_report(gs);
  EXPECT_TRUE(has(report, "[sync.Mutex.Lock")) << report;  // leaked where the heap is attributed
  EXPECT_TRUE(has(report, "; the Mutex is held by goroutine " + std::to_string(id) + "]")) << report;
}

// TestChecker's whole-program check, here over this test's goroutines (a
// checker made inside a test checks that test's).
TEST(Testing, TheProgramCheckIsSkippedAfterAFailedRunUnlessRunOnFailure) {
  SKIP_WITHOUT_PASSES();
  stray::test::leaves_goroutines("leaks one for the program check");
  leak(1, stray::rt::WaitReason::chan_receive, [] { stray::go(blocks_on_its_own_channel, stray::make_chan<int>()); });
  namespace t = stray::testing;
  std::vector<int> codes;
  auto record = t::cleanup([&](int code) { codes.push_back(code); });
  EXPECT_EQ(t::TestChecker({record}).program_finished(false), "");
  EXPECT_TRUE(has(t::TestChecker({record, t::run_on_failure()}).program_finished(false), "stray: 1 leaked goroutine"));
  EXPECT_TRUE(has(t::TestChecker({record}).program_finished(true), "stray: 1 leaked goroutine"));
  EXPECT_EQ(codes, (std::vector<int>{1, 1, 1})) << "the run failed, or its check did";
}

TEST(Testing, GoroutinesOfAnotherThreadAndTheirChildrenAreChargedToTheTest) {
  SKIP_WITHOUT_PASSES();
  stray::test::leaves_goroutines("leaks goroutines through a plain thread");
  int before = stray::rt::count_goroutines(stray::rt::Gstatus::waiting, stray::rt::WaitReason::chan_receive);
  std::thread([] {
    stray::go([] { stray::go(blocks_on_its_own_channel, stray::make_chan<int>()); });
  }).join();
  stray::test::wait_until_waiting(before + 1, stray::rt::WaitReason::chan_receive);
  std::vector<Goroutine> gs = stray::testing::find();
  ASSERT_EQ(gs.size(), 1u);
  EXPECT_TRUE(gs[0].leaked);
}

TEST(Testing, WithoutPassesTheCheckWaitsByCount) {
  if (!stray::test::kNoPasses) GTEST_SKIP() << "this build runs passes";
  stray::WaitGroup wg;
  wg.go([] { stray::yield(); });
  EXPECT_TRUE(stray::testing::find(stray::testing::max_wait(1h)).empty()) << "the goroutine finishes";
  wg.wait();
  StillRunning s;
  EXPECT_THROW(stray::testing::find(stray::testing::max_wait(1ms)), stray::pprof::PassError);
}

// ---- throwaway tests, run in a child process ----

[[gnu::noinline]] void leaky_sender() {
  auto ch = stray::make_chan<int>();
  stray::go([ch] { ch.send(42); });
}
[[gnu::noinline]] void leaky_receiver() {
  auto ch = stray::make_chan<int>();
  stray::go([ch] { (void)ch.recv(); });
}
[[gnu::noinline]] void leaky_worker() {
  auto jobs = stray::make_chan<int>(8);
  stray::go([jobs] {
    for (int job : jobs) (void)job;
  });
  for (int i = 0; i < 3; i++) jobs.send(i);
}

// The three leaks of examples/leaks.cc, not waited for: the check finds
// them whether they have blocked yet or not.
struct LeaksThree : ::testing::Test {
  void TestBody() override {
    leaky_sender();
    leaky_receiver();
    leaky_worker();
  }
};

struct LeaksAndFails : ::testing::Test {
  void TestBody() override {
    stray::go(blocks_on_its_own_channel, stray::make_chan<int>());
    ADD_FAILURE() << "the test's own failure";
  }
};

// Attribution: A leaves a goroutine still running (kept()) that outlives
// it, then B leaks one of its own. A's check names only A's; B's only B's.
struct AttrA : ::testing::Test {
  void TestBody() override { stray::go(waits_on_a_kept_channel, kept()); }
};
struct AttrB : ::testing::Test {
  void TestBody() override {
    stray::test::on_goroutine([] { stray::go(sends_on_its_own_channel, stray::make_chan<int>()); });
  }
};

struct Clean : ::testing::Test {
  void TestBody() override {
    stray::WaitGroup wg;
    for (int i = 0; i < 4; i++) wg.go([] { stray::yield(); });
    wg.wait();
  }
};

// A goroutine made outside every test, by global set-up.
struct LeakingEnvironment : ::testing::Environment {
  void SetUp() override { stray::go(sends_on_its_own_channel, stray::make_chan<int>()); }
};

// With the suppression file (STRAY_LEAK_SUPPRESSIONS) the outer test writes.
struct LeaksSuppressedByFile : ::testing::Test {
  void TestBody() override { stray::go(sends_on_its_own_channel, stray::make_chan<int>()); }
};

template <class T>
void register_child(const char* name) {
  ::testing::RegisterTest("TestingChild", name, nullptr, nullptr, __FILE__, __LINE__,
                          []() -> ::testing::Test* { return new T; });
}

[[maybe_unused]] const bool children_registered = [] {
  const char* which = getenv(kChildEnv);
  if (!which) return false;
  register_child<LeaksThree>("LeaksThree");
  register_child<LeaksAndFails>("LeaksAndFails");
  register_child<AttrA>("AttrA");
  register_child<AttrB>("AttrB");
  register_child<Clean>("Clean");
  register_child<LeaksSuppressedByFile>("LeaksSuppressedByFile");
  if (std::string(which) == "environment") ::testing::AddGlobalTestEnvironment(new LeakingEnvironment);
  return true;
}();

using ChildRun = stray::test::CommandRun;

// Runs this binary's TestingChild.<filter> with kChildEnv=mode and extra
// environment; returns what it printed and its status.
ChildRun run_child(const std::string& filter, const std::string& mode = "1", const std::string& env = "") {
  return stray::test::run_self(env + " " + kChildEnv + "=" + mode, "TestingChild." + filter);
}

TEST(TestingListener, CatchesEachOfTheThreeClassicLeaks) {
  STRAY_SKIP_WITHOUT_REEXEC();
  SKIP_WITHOUT_PASSES();
  ChildRun r = run_child("LeaksThree");
  EXPECT_EQ(r.exit_status, 1) << r.out;
  EXPECT_TRUE(has(r.out, "[  FAILED  ] TestingChild.LeaksThree")) << r.out;
  EXPECT_TRUE(has(r.out, "goroutines left behind by this test:\n")) << r.out;
  EXPECT_TRUE(has(r.out, "[chan send (leaked)")) << r.out;
  EXPECT_TRUE(has(r.out, "[chan receive (leaked)")) << r.out;
  EXPECT_TRUE(has(r.out, "(anonymous namespace)::leaky_sender()::{lambda}::operator()\n")) << r.out;
  EXPECT_TRUE(has(r.out, "(anonymous namespace)::leaky_receiver()::{lambda}::operator()\n")) << r.out;
  EXPECT_TRUE(has(r.out, "(anonymous namespace)::leaky_worker()::{lambda}::operator()\n")) << r.out;
  EXPECT_TRUE(has(r.out, "created by (anonymous namespace)::leaky_worker()\n")) << r.out;
  EXPECT_TRUE(has(r.out, "stray: 3 leaked goroutines in 3 places\n")) << r.out;
}

TEST(TestingListener, StaysSilentOnACleanTest) {
  STRAY_SKIP_WITHOUT_REEXEC();
  ChildRun r = run_child("Clean");
  EXPECT_EQ(r.exit_status, 0) << r.out;
  EXPECT_TRUE(has(r.out, "[  PASSED  ] 1 test.")) << r.out;
  EXPECT_FALSE(has(r.out, "left behind")) << r.out;
}

TEST(TestingListener, ReportsOnAFailedTestToo) {
  STRAY_SKIP_WITHOUT_REEXEC();
  SKIP_WITHOUT_PASSES();
  ChildRun r = run_child("LeaksAndFails");
  EXPECT_EQ(r.exit_status, 1) << r.out;
  EXPECT_TRUE(has(r.out, "the test's own failure")) << r.out;
  EXPECT_TRUE(has(r.out, "goroutines left behind by this test:\ngoroutine ")) << r.out;
  EXPECT_TRUE(has(r.out, "stray: 1 leaked goroutine in 1 place\n")) << r.out;
}

TEST(TestingListener, ChargesEachGoroutineToTheTestThatMadeIt) {
  STRAY_SKIP_WITHOUT_REEXEC();
  SKIP_WITHOUT_PASSES();
  ChildRun r = run_child("AttrA:TestingChild.AttrB");
  EXPECT_EQ(r.exit_status, 1) << r.out;
  auto a = r.out.find("[  FAILED  ] TestingChild.AttrA (");
  auto b = r.out.find("[ RUN      ] TestingChild.AttrB");
  ASSERT_NE(a, std::string::npos) << r.out;
  ASSERT_NE(b, std::string::npos) << r.out;
  std::string a_part = r.out.substr(0, a), b_part = r.out.substr(b);
  EXPECT_TRUE(has(a_part, "waits_on_a_kept_channel")) << r.out;
  EXPECT_TRUE(has(a_part, "(still running)")) << r.out;
  EXPECT_FALSE(has(a_part, "sends_on_its_own_channel")) << r.out;
  EXPECT_TRUE(has(b_part, "[chan send (leaked)")) << r.out;
  EXPECT_TRUE(has(b_part, "sends_on_its_own_channel")) << r.out;
  EXPECT_FALSE(has(b_part, "waits_on_a_kept_channel")) << r.out << "\nB is not blamed for A's goroutine";
  EXPECT_TRUE(has(r.out, "[  FAILED  ] TestingChild.AttrB (")) << r.out;
}

TEST(TestingListener, ChecksGoroutinesMadeOutsideEveryTestOnceAtTheEnd) {
  STRAY_SKIP_WITHOUT_REEXEC();
  SKIP_WITHOUT_PASSES();
  ChildRun r = run_child("Clean", "environment");
  EXPECT_EQ(r.exit_status, 1) << r.out;
  EXPECT_TRUE(has(r.out, "[       OK ] TestingChild.Clean")) << r.out << "\nthe test is not blamed";
  EXPECT_TRUE(has(r.out, "goroutines left behind outside the tests:\n")) << r.out;
  EXPECT_TRUE(has(r.out, "created by (anonymous namespace)::LeakingEnvironment::SetUp()")) << r.out;
}

TEST(TestingListener, HonoursTheSuppressionFile) {
  STRAY_SKIP_WITHOUT_REEXEC();
  SKIP_WITHOUT_PASSES();
  auto path = std::filesystem::temp_directory_path() / ("stray_supp_" + std::to_string(getpid()));
  std::ofstream(path) << "# a library's known goroutines\nleak:^(anonymous namespace)::sends_on_its_own_channel(\n";
  ChildRun r = run_child("LeaksSuppressedByFile", "1", "STRAY_LEAK_SUPPRESSIONS='" + path.string() + "'");
  EXPECT_EQ(r.exit_status, 0) << r.out;
  std::filesystem::remove(path);
  ChildRun missing = run_child("LeaksSuppressedByFile", "1", "STRAY_LEAK_SUPPRESSIONS=/nonexistent/stray.supp");
  EXPECT_EQ(missing.exit_status, 1) << missing.out;
  EXPECT_TRUE(has(missing.out, "stray: cannot read STRAY_LEAK_SUPPRESSIONS file /nonexistent/stray.supp")) << missing.out;
}

}  // namespace
