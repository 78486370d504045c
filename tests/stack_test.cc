// stack_test — goroutine stacks: pooling, guard pages and overflow reports,
// STRAY_STACK_SIZE, reservations sized for RLIMIT_AS.
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdlib>

#include "runtime/stack.h"
#include "test_util.h"

using stray::make_chan;

namespace {
// Recursion with a large frame, kept from being optimized away.
[[gnu::noinline]] int deep(int n) {
  volatile char frame[1024];
  for (auto& c : frame) c = char(n | 1);  // fill it: an overflow writes every byte
  return n == 0 ? frame[0] : deep(n - 1) + frame[0];
}

// One frame larger than the whole stack, touched only at its far end: with
// -fstack-clash-protection (the package's usage requirement) the prologue
// probes every page from the top, and the first probe past the stack hits
// the guard instead of the neighbour below.
[[gnu::noinline]] int huge_frame() {
  volatile char a[512 << 10];
  a[0] = 1;  // the lowest byte: below the 256 KiB stack and its guard
  return a[0];
}

// A neighbour parked on a channel whose stack sits in the region too; the
// overflow report must name the overflowing goroutine, not it.
void park_a_neighbour(stray::Chan<int> c) {
  stray::go([c]() mutable { c.recv(); });
}

void overflow_by_recursion() {
  auto c = make_chan<int>();
  park_a_neighbour(c);
  stray::go(stray::GoOptions{.stack_size = 64 << 10}, [c]() mutable { c.send(deep(1000)); });
  c.recv();
}

void overflow_by_a_huge_frame() {
  auto c = make_chan<int>();
  park_a_neighbour(c);
  stray::go([c]() mutable { c.send(huge_frame()); });
  c.recv();
}

constexpr const char* kOverflowReport =
    "runtime: goroutine stack exceeds [0-9]+-byte limit\n"
    "runtime: sp=0x[0-9a-f]+ stack=\\[0x[0-9a-f]+, 0x[0-9a-f]+\\]\n"
    "fatal error: stack overflow\n";

// Runs the rest of the process under RLIMIT_AS = bytes (ulimit -v).
void limit_address_space(std::size_t bytes) {
  rlimit rl{};
  rl.rlim_cur = rl.rlim_max = bytes;
  if (setrlimit(RLIMIT_AS, &rl) != 0) _exit(3);
}

// An unmapped address the compiler cannot see (a literal null would be
// undefined behaviour it may optimize away).
volatile uintptr_t bad_address = 16;

bool sanitized() {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  return true;
#else
  return false;
#endif
}
}  // namespace

TEST(Stack, SizesRoundUpToPowersOfTwo) {
  EXPECT_EQ(stray::rt::stack_round(1), stray::rt::kStackMin);
  EXPECT_EQ(stray::rt::stack_round(17 << 10), std::size_t(32) << 10);
  EXPECT_EQ(stray::rt::stack_round(1 << 20), std::size_t(1) << 20);
  EXPECT_THROW(stray::rt::stack_round(stray::rt::kStackMax + 1), std::invalid_argument);
}

TEST(Stack, GuardsLieBelowTheUsableStack) {
  EXPECT_EQ(stray::rt::stack_guard_bytes(16 << 10), std::size_t(4) << 10);
  EXPECT_EQ(stray::rt::stack_guard_bytes(256 << 10), std::size_t(32) << 10);
  EXPECT_EQ(stray::rt::stack_guard_bytes(std::size_t(1) << 30), std::size_t(64) << 10);
  stray::rt::Stack s = stray::rt::stack_alloc(256 << 10);
  EXPECT_EQ(s.lo - s.base, 32 << 10);
  EXPECT_EQ(s.size(), std::size_t(256) << 10);
  EXPECT_EQ(s.usable(), (std::size_t(224) << 10) - stray::rt::kCanaryBytes);
  stray::rt::stack_free(s);
}

TEST(Stack, PooledStacksAreReusedZeroed) {
  // Stacks return to the pool and come back clean: the canary holds.
  for (int round = 0; round < 3; round++) {
    auto c = make_chan<int>(1);
    stray::go(stray::GoOptions{.stack_size = 64 << 10}, [c]() mutable { c.send(deep(40)); });
    EXPECT_EQ(c.recv(), 1 + 40 * 41 / 2 + 20);  // sum of (n | 1) for n = 0..40
  }
}

TEST(Stack, OverflowFaultsInTheGuardAndNamesTheGoroutine) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(overflow_by_recursion(), ::testing::ExitedWithCode(2),
              std::string(kOverflowReport) +
                  "(.|\n)*goroutine [0-9]+ \\[running\\]:\n.*::deep\\(int\\)\n(.|\n)*"
                  "created by .*::overflow_by_recursion\\(\\)\n");
}

TEST(Stack, AFrameLargerThanTheStackHitsTheGuard) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(overflow_by_a_huge_frame(), ::testing::ExitedWithCode(2),
              std::string(kOverflowReport) + "(.|\n)*goroutine [0-9]+ \\[running\\]:\n.*::huge_frame\\(\\)\n");
}

TEST(Stack, MprotectGuardsWhenAskedFor) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  setenv("STRAY_STACK_GUARD", "mprotect", 1);
  EXPECT_EXIT(
      {
        if (strcmp(stray::rt::stack_guard_mode(), "mprotect") != 0) _exit(3);
        overflow_by_recursion();
      },
      ::testing::ExitedWithCode(2), kOverflowReport);
  setenv("STRAY_STACK_GUARD", "sometimes", 1);
  EXPECT_EXIT(stray::rt::stack_guard_mode(), ::testing::ExitedWithCode(2),
              "STRAY_STACK_GUARD=\"sometimes\": want auto or mprotect");
  unsetenv("STRAY_STACK_GUARD");
}

TEST(Stack, OtherFaultsEndTheProgramAsWithoutStray) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  if (sanitized()) GTEST_SKIP() << "the sanitizers report a wild access themselves";
  // A null dereference in a goroutine: the default action, SIGSEGV.
  EXPECT_EXIT(
      {
        auto c = make_chan<int>();
        stray::go([c]() mutable { c.send(*reinterpret_cast<volatile int*>(bad_address)); });
        c.recv();
      },
      ::testing::KilledBySignal(SIGSEGV), "");
  // A handler the application installed before stray started still gets
  // the faults that are not stray's.
  EXPECT_EXIT(
      {
        signal(SIGSEGV, [](int) { _exit(42); });
        auto c = make_chan<int>();
        stray::go([c]() mutable { c.send(*reinterpret_cast<volatile int*>(bad_address)); });
        c.recv();
      },
      ::testing::ExitedWithCode(42), "");
}

TEST(Stack, RunsUnderAnAddressSpaceLimit) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  if (sanitized()) GTEST_SKIP() << "the sanitizers' shadow memory needs terabytes of address space";
  // ulimit -v 2 GiB, as batch systems set: the runtime sizes its
  // reservations to fit, and goroutines, channels and a leak pass work.
  EXPECT_EXIT(
      {
        limit_address_space(std::size_t(2) << 30);
        auto c = make_chan<int>();
        stray::WaitGroup wg;
        for (int i = 0; i < 100; i++) wg.go([c]() mutable { c.send(1); });
        int sum = 0;
        for (int i = 0; i < 100; i++) sum += *c.recv();
        wg.wait();
        (void)stray::pprof::lookup("goroutineleak")->count();
        _exit(sum == 100 ? 0 : 4);
      },
      ::testing::ExitedWithCode(0), "");
}

TEST(Stack, AFullRegionNamesTheLimit) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  if (sanitized()) GTEST_SKIP() << "the sanitizers' shadow memory needs terabytes of address space";
  // Under 1 GiB the region holds only a few 64 MiB stacks.
  EXPECT_EXIT(
      {
        limit_address_space(std::size_t(1) << 30);
        auto c = make_chan<int>();
        stray::GoOptions big{.stack_size = 64 << 20};
        for (int i = 0; i < 64; i++) stray::go(big, [c]() mutable { c.recv(); });
        _exit(4);
      },
      ::testing::ExitedWithCode(2), "the goroutine stack region is full(.|\n)*raise RLIMIT_AS \\(ulimit -v\\)");
}

TEST(Stack, DefaultSizeFromEnvironment) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  setenv("STRAY_STACK_SIZE", "1048576", 1);
  EXPECT_EXIT(_exit(stray::rt::stack_default_size() == (1u << 20) ? 0 : 1),
              ::testing::ExitedWithCode(0), "");
  setenv("STRAY_STACK_SIZE", "lots", 1);
  EXPECT_EXIT(stray::rt::stack_default_size(), ::testing::ExitedWithCode(2),
              "stray: STRAY_STACK_SIZE=\"lots\": want an integer in 1..1073741824");
  unsetenv("STRAY_STACK_SIZE");
  EXPECT_EQ(stray::rt::stack_default_size(), std::size_t(256) << 10);
}
