// deadlock_test — Go's "all goroutines are asleep - deadlock!" (fatal,
// exit status 2) when nothing can run any more, and silence while anything
// still can. Each case runs in a fresh process (death test).
#include <unistd.h>

#include <chrono>
#include <thread>

#include "test_util.h"

using namespace std::chrono_literals;
using stray::make_chan;

namespace {

void main_waits_for_a_stuck_goroutine() {
  auto never = make_chan<int>();
  auto result = make_chan<int>();
  stray::go([never, result]() mutable { result.send(*never.recv()); });
  result.recv();
}

void main_locks_a_mutex_twice() {
  stray::Mutex m;
  m.lock();
  m.lock();
}

void main_waits_for_a_sleeper() {
  auto c = make_chan<int>();
  stray::go([c]() mutable {
    stray::sleep(50ms);  // a pending timer: not a deadlock
    c.send(1);
  });
  _exit(*c.recv() == 1 ? 0 : 1);
}

void main_waits_for_foreign_code() {
  auto c = make_chan<int>();
  std::thread t([c]() mutable {
    std::this_thread::sleep_for(50ms);  // not in stray: it may still send
    c.send(1);
  });
  t.detach();
  _exit(*c.recv() == 1 ? 0 : 1);
}

void deadlock_with_check_disabled() {
  alarm(1);  // the check stays silent: SIGALRM ends the test
  main_waits_for_a_stuck_goroutine();
}

}  // namespace

class Deadlock : public ::testing::Test {
 protected:
  void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
};

TEST_F(Deadlock, ReportedWhenEverythingIsBlocked) {
  EXPECT_EXIT(main_waits_for_a_stuck_goroutine(), ::testing::ExitedWithCode(2),
              "^fatal error: all goroutines are asleep - deadlock!\n\n"
              "thread \\[chan receive\\]:\n\n"
              "goroutine [0-9]+ \\[chan receive\\]:\n"
              // its stack: the goroutine's own function, where it blocks
              ".*main_waits_for_a_stuck_goroutine.*operator\\(\\)\n"
              "\t.*deadlock_test.cc:19 \\+0x[0-9a-f]+\n"
              "created by .*main_waits_for_a_stuck_goroutine.*\n"
              "\t.*deadlock_test.cc:[0-9]+ \\+0x");
  EXPECT_EXIT(main_locks_a_mutex_twice(), ::testing::ExitedWithCode(2),
              "all goroutines are asleep - deadlock!\n\nthread \\[sync.Mutex.Lock\\]:");
}

TEST_F(Deadlock, SilentWhileATimerIsPending) {
  EXPECT_EXIT(main_waits_for_a_sleeper(), ::testing::ExitedWithCode(0), "");
}

TEST_F(Deadlock, SilentWhileAThreadRunsForeignCode) {
  EXPECT_EXIT(main_waits_for_foreign_code(), ::testing::ExitedWithCode(0), "");
}

TEST_F(Deadlock, CanBeTurnedOff) {
  setenv("STRAY_DEADLOCK", "0", 1);
  EXPECT_EXIT(deadlock_with_check_disabled(), ::testing::KilledBySignal(SIGALRM), "");
  unsetenv("STRAY_DEADLOCK");
}
