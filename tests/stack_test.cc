// stack_test — goroutine stacks: pooling, overflow detection, STRAY_STACK_SIZE.
#include <cstdlib>

#include "stack.h"
#include "test_util.h"

using stray::make_chan;

namespace {
// Recursion with a large frame, kept from being optimized away.
[[gnu::noinline]] int deep(int n) {
  volatile char frame[1024];
  for (auto& c : frame) c = char(n | 1);  // fill it: an overflow writes every byte
  return n == 0 ? frame[0] : deep(n - 1) + frame[0];
}

void overflow_a_small_stack() {
  auto c = make_chan<int>();
  // 100 frames of >1 KiB on a 64 KiB stack run through the canary; the
  // check at the next switch (the yield) catches it, before the send could
  // let the main thread return.
  stray::go(stray::GoOptions{.stack_size = 64 << 10}, [c]() mutable {
    int v = deep(100);
    stray::yield();
    c.send(v);
  });
  c.recv();
}
}  // namespace

TEST(Stack, SizesRoundUpToPowersOfTwo) {
  EXPECT_EQ(stray::rt::stack_round(1), stray::rt::kStackMin);
  EXPECT_EQ(stray::rt::stack_round(17 << 10), std::size_t(32) << 10);
  EXPECT_EQ(stray::rt::stack_round(1 << 20), std::size_t(1) << 20);
  EXPECT_THROW(stray::rt::stack_round(stray::rt::kStackMax + 1), std::invalid_argument);
}

TEST(Stack, PooledStacksAreReusedZeroed) {
  // Stacks return to the pool and come back clean: the canary holds.
  for (int round = 0; round < 3; round++) {
    auto c = make_chan<int>(1);
    stray::go(stray::GoOptions{.stack_size = 64 << 10}, [c]() mutable { c.send(deep(40)); });
    EXPECT_EQ(c.recv(), 1 + 40 * 41 / 2 + 20);  // sum of (n | 1) for n = 0..40
  }
}

TEST(Stack, OverflowStopsTheProgramNamingTheGoroutine) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(overflow_a_small_stack(), "stack overflow in goroutine [0-9]+");
}

TEST(Stack, DefaultSizeFromEnvironment) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  setenv("STRAY_STACK_SIZE", "1048576", 1);
  EXPECT_EXIT(_exit(stray::rt::stack_default_size() == (1u << 20) ? 0 : 1),
              ::testing::ExitedWithCode(0), "");
  setenv("STRAY_STACK_SIZE", "lots", 1);
  EXPECT_DEATH(stray::rt::stack_default_size(), "STRAY_STACK_SIZE must be a byte count");
  unsetenv("STRAY_STACK_SIZE");
  EXPECT_EQ(stray::rt::stack_default_size(), std::size_t(256) << 10);
}
