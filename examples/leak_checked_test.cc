// leak_checked_test — goroutine leak checks in a GoogleTest suite
// (stray/gtest.h; Go: go.uber.org/goleak, with the leak profile's verdict).
//
// The listener checks after every test that the goroutines it made are
// gone: one a leak pass proves stuck fails the test at once, with its stack
// and the go() call that made it; one still running gets a few seconds to
// finish. The test suite runs this program (ctest: example_leak_checked_test);
// it passes because every test here waits for its goroutines.
#include <stray/gtest.h>
#include <stray/stray.h>

#include <optional>
#include <vector>

namespace {

// Code under test: squares its inputs on goroutines of its own.
int sum_squares(const std::vector<int>& xs) {
  auto results = stray::make_chan<int>(xs.size());  // buffered: no sender waits
  for (int x : xs) stray::go([results, x] { results.send(x * x); });
  int sum = 0;
  for (std::size_t i = 0; i < xs.size(); i++) sum += *results.recv();
  return sum;
}

// Returns the first result that arrives. The channel is buffered for every
// sender: with an unbuffered one the others would block forever once this
// returns, and the listener would fail the test naming them.
std::optional<int> first_square(const std::vector<int>& xs) {
  if (xs.empty()) return std::nullopt;
  auto results = stray::make_chan<int>(xs.size());
  for (int x : xs) stray::go([results, x] { results.send(x * x); });
  return results.recv();
}

TEST(Squares, Sum) { EXPECT_EQ(sum_squares({1, 2, 3}), 14); }

TEST(Squares, FirstLeavesNoGoroutineBlocked) {
  EXPECT_TRUE(first_square({2, 2, 2}) == 4);
  // The other senders may still be finishing: the check gives them time.
}

TEST(Squares, OneScope) {
  stray::WaitGroup wg;
  wg.go([] { (void)sum_squares({4}); });
  wg.wait();
  STRAY_EXPECT_NO_LEAKS();  // a check at this point, with find()'s options
}

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  stray::testing::install_leak_listener();
  return RUN_ALL_TESTS();
}
