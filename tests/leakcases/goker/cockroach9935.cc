// cockroach9935.go (CockroachDB #9935): outputLogEntry holds l.mu when file
// creation fails (randomly, 3 times in 4) and calls exit(), which locks
// l.mu again: the logging goroutine deadlocks on itself.
#include "leakcase.h"

namespace leakcases {
namespace {

struct loggingT_cockroach9935 {
  stray::Mutex mu;

  void outputLogEntry() {
    mu.lock();
    if (createFile() != 0) exit();
    mu.unlock();
  }

  int createFile() { return rand_intn(8) % 4 > 0 ? 1 : 0; }  // an error, 3 times in 4

  void exit() {
    mu.lock();  // blocked forever
    mu.unlock();
  }
};

void Cockroach9935() {
  for (int i = 0; i < 100; i++) {
    stray::go([] {
      auto* l = new loggingT_cockroach9935;
      stray::go(&loggingT_cockroach9935::outputLogEntry, l);  // G1
    });
  }
}

constexpr const char* kG1 =
    R"(loggingT_cockroach9935::outputLogEntry\(\)[^:]* \[sync\.Mutex\.Lock\])";

LEAK_CASE({.name = "Cockroach9935",
           .kind = Kind::flaky,
           .run = Cockroach9935,
           .expected = {kG1},
           .settle = std::chrono::milliseconds(100)});

}  // namespace
}  // namespace leakcases
