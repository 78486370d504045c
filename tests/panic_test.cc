// panic_test — an exception escaping a goroutine ends the program like a Go
// panic: message, goroutine header, stack, exit status 2.
#include <stdexcept>

#include "test_util.h"

using stray::make_chan;

namespace {
[[gnu::noinline]] void throw_boom() { throw std::runtime_error("boom"); }

void goroutine_throws() {
  stray::go([] { throw_boom(); });
  stray::select();  // the main thread waits forever
}

void goroutine_sends_on_closed() {
  auto c = make_chan<int>();
  c.close();
  stray::go([c]() mutable { c.send(1); });
  stray::select();
}

struct Custom {};
void goroutine_throws_custom() {
  stray::go([] { throw Custom{}; });
  stray::select();
}
}  // namespace

class PanicDeath : public ::testing::Test {
 protected:
  void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
};

TEST_F(PanicDeath, EscapingExceptionPrintsPanicAndExitsTwo) {
  EXPECT_EXIT(
      goroutine_throws(),
      ::testing::ExitedWithCode(2),
      "^panic: boom\n\ngoroutine [0-9]+ \\[running\\]:\n(.|\n)*throw_boom(.|\n)*created by ");
}

TEST_F(PanicDeath, MisuseInAGoroutineIsAGoPanic) {
  EXPECT_EXIT(
      goroutine_sends_on_closed(),
      ::testing::ExitedWithCode(2), "^panic: send on closed channel\n\ngoroutine [0-9]+ \\[running\\]:");
}

TEST_F(PanicDeath, NonStdExceptionNamesItsType) {
  EXPECT_EXIT(
      goroutine_throws_custom(),
      ::testing::ExitedWithCode(2), "^panic: .*Custom \\(not derived from std::exception\\)");
}

TEST(Panic, CaughtInsideTheGoroutineIsFine) {
  auto c = make_chan<std::string>(1);
  stray::go([c]() mutable {
    try {
      throw_boom();
    } catch (const std::exception& e) {
      c.send(e.what());
    }
  });
  EXPECT_EQ(c.recv(), "boom");
}
