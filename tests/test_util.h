// test_util.h — helpers shared by the runtime's tests, and the word a test
// gives the suite's goroutine check (test_main.cc) when it leaves goroutines
// behind on purpose: leaves_goroutines().
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <sstream>
#include <string>
#include <thread>

#include "runtime/proc.h"
#include "stray/gtest.h"
#include "stray/stray.h"

// For a test that runs this binary again in a new process: a death test
// (the threadsafe style re-executes it) or a re-run of one test in a fresh
// process. A cross build run under qemu-user (the aarch64 preset defines
// STRAY_TEST_EMULATED) skips it: without a binfmt_misc entry the kernel
// cannot exec an AArch64 binary, and CI registers none (that would change
// the host's kernel state).
#if defined(STRAY_TEST_EMULATED)
#define STRAY_SKIP_WITHOUT_REEXEC() \
  GTEST_SKIP() << "runs this binary again, and qemu-user cannot exec an AArch64 binary"
#else
#define STRAY_SKIP_WITHOUT_REEXEC() (void)0
#endif

namespace stray::test {

// ThreadSanitizer counts every live goroutine as a thread (a TSan fiber),
// dies past 8128 of them and makes each one slow to create; stress tests that
// spawn or park many goroutines scale down in that build.
#if defined(__SANITIZE_THREAD__)
inline constexpr int kMaxParked = 4000;
#else
inline constexpr int kMaxParked = 1 << 30;
#endif

// Where a leak pass cannot run: under ThreadSanitizer (a pass fails with
// PassError saying so) and under qemu-user (it cannot stop the world).
// Tests that need one skip there.
#if defined(__SANITIZE_THREAD__) || defined(STRAY_TEST_EMULATED)
inline constexpr bool kNoPasses = true;
#else
inline constexpr bool kNoPasses = false;
#endif

// Blocks until at least n goroutines are waiting with the given reason
// (leaked ones count: they wait forever).
// Polls with yields: what it waits for is a state change inside the runtime
// that no channel reports. A runtime that never gets there hangs the test
// until ctest's timeout fails it.
inline void wait_until_waiting(int n, rt::WaitReason reason) {
  while (rt::count_goroutines(rt::Gstatus::waiting, reason) + rt::count_goroutines(rt::Gstatus::leaked, reason) < n)
    std::this_thread::yield();
}

// Says that the running test leaves goroutines behind on purpose, and why
// (a leak test's leaked goroutines, a goroutine parked on a nil channel
// forever): the leak listener (test_main.cc, stray/gtest.h) does not check
// this test. Call it from the test body or its fixture's SetUp.
using stray::testing::leaves_goroutines;

// A goroutine as a pass saw it: id, state, its stack (innermost first) and
// where it was created, one line each.
// What a shell command printed (stdout and stderr) and its exit status
// (-1: it did not exit normally, or could not be started; out then says
// "popen failed").
struct CommandRun {
  std::string out;
  int exit_status = -1;
};

inline CommandRun run_command(const std::string& cmd) {
  CommandRun r;
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (!p) {
    r.out = "popen failed";
    return r;
  }
  char buf[4096];
  for (std::size_t n; (n = fread(buf, 1, sizeof buf, p)) > 0;) r.out.append(buf, n);
  int st = pclose(p);
  if (WIFEXITED(st)) r.exit_status = WEXITSTATUS(st);
  return r;
}

// Runs this test binary again with `env` (shell assignments) and only the
// tests `filter` selects: for throwaway tests that must fail or leave
// goroutines, which a test registers only when its env variable is set.
inline CommandRun run_self(const std::string& env, const std::string& filter) {
  return run_command(env + " '" + std::filesystem::read_symlink("/proc/self/exe").string() + "' --gtest_filter='" +
                     filter + "'");
}

inline std::string describe(const pprof::Goroutine& g) {
  std::ostringstream s;
  s << "goroutine " << g.id << " [" << g.state << (g.leaked ? " (leaked)" : "") << "]";
  for (const auto& f : g.stack) s << "\n  " << f.function << " " << f.file << ":" << f.line;
  s << "\n  created by " << g.created_by.function << " " << g.created_by.file << ":" << g.created_by.line;
  return s.str();
}

// Calls f(d) with each duration too long for a deadline: the clock's own
// maximum, coarser units whose conversion to nanoseconds would overflow,
// and floating ones up to infinity.
template <class F>
void for_each_never(F f) {
  f(stray::duration::max());
  f(std::chrono::nanoseconds::max());
  f(std::chrono::hours::max());
  f(std::chrono::duration<int32_t, std::ratio<86400 * 365>>::max());  // years, a 32-bit count
  f(std::chrono::duration<uint64_t, std::milli>::max());               // unsigned
  f(std::chrono::duration<double>::max());
  f(std::chrono::duration<double>(std::numeric_limits<double>::infinity()));
  f(std::chrono::duration<float, std::nano>(1e30f));
}

// Waits until no goroutine is left. A context's deadline goroutine ends
// soon after its cancel, not at once; what only it still holds would look
// leaked to LeakSanitizer, which does not scan goroutine stacks.
inline void wait_no_goroutines() {
  while (num_goroutine() > 0) std::this_thread::yield();
}

// Goroutines waiting with wait reason r now.
inline int waiting(rt::WaitReason r) { return rt::count_goroutines(rt::Gstatus::waiting, r); }

// Expects f() to throw stray::panic with exactly Go's message msg.
template <class F>
void expect_panic(F f, const char* msg) {
  try {
    f();
    ADD_FAILURE() << "no panic, expected: " << msg;
  } catch (const stray::panic& p) {
    EXPECT_STREQ(p.what(), msg);
  }
}

// Runs a test body under several processor counts (STYLE: one test, many
// ways). The fixture restores procs() afterwards.
class ProcsTest : public ::testing::TestWithParam<int> {
 protected:
  void SetUp() override {
    saved_ = stray::procs();
    stray::set_procs(GetParam());
  }
  void TearDown() override { stray::set_procs(saved_); }

 private:
  int saved_ = 1;
};

inline std::string procs_name(const ::testing::TestParamInfo<int>& info) {
  return "procs" + std::to_string(info.param);
}

#define STRAY_PROCS_SWEEP(suite) \
  INSTANTIATE_TEST_SUITE_P(Procs, suite, ::testing::Values(1, 2, 4, 8), ::stray::test::procs_name)

// Signals completion of n goroutines to a waiting thread (until WaitGroup
// exists): each calls done(), the waiter calls wait().
class Latch {
 public:
  explicit Latch(int n) : n_(n), c_(stray::make_chan<Unit>(std::size_t(n))) {}
  // Sends through its own handle: the waiter may destroy the Latch as soon
  // as the last value is in.
  void done() {
    stray::Chan<Unit> c = c_;
    c.send({});
  }
  void wait() {
    for (int i = 0; i < n_; i++) c_.recv();
  }

 private:
  int n_;
  stray::Chan<Unit> c_;
};

}  // namespace stray::test
