// leaks — the goroutine leak profile at work (Go 1.26's goroutineleak).
//
// Three classic leaks: a sender nobody receives from, a receiver nobody
// sends to, and a worker ranging over a channel nobody closes. Each channel
// is held only by the goroutine blocked on it, so nothing can ever wake it:
// the leak pass proves that and reports each with its stack and the go()
// call that created it. Then the fixed versions run, and the profile of the
// new goroutines is empty.
#include <stray/stray.h>

#include <cstdio>
#include <iostream>

namespace {

// Returns before anyone receives: the sender blocks forever.
[[gnu::noinline]] void leaky_sender() {
  auto ch = stray::make_chan<int>();
  stray::go([ch] { ch.send(42); });
}

// Nobody ever sends: the receiver blocks forever.
[[gnu::noinline]] void leaky_receiver() {
  auto ch = stray::make_chan<int>();
  stray::go([ch] { std::optional<int> v = ch.recv(); (void)v; });
}

// The producer forgets close(): the worker's range never ends.
[[gnu::noinline]] void leaky_worker() {
  auto jobs = stray::make_chan<int>(8);
  stray::go([jobs] {
    for (int job : jobs) (void)job;
  });
  for (int i = 0; i < 3; i++) jobs.send(i);
}

// The fixes: receive the value, send one, close the channel.
[[gnu::noinline]] void fixed() {
  stray::WaitGroup wg;
  auto a = stray::make_chan<int>();
  wg.go([a] { a.send(42); });
  (void)a.recv();
  auto b = stray::make_chan<int>();
  wg.go([b] { (void)b.recv(); });
  b.send(1);
  auto jobs = stray::make_chan<int>(8);
  wg.go([jobs] {
    for (int job : jobs) (void)job;
  });
  for (int i = 0; i < 3; i++) jobs.send(i);
  jobs.close();
  wg.wait();
}

// Lets the new goroutines run until they block (Go's test settles the same way).
void settle() {
  for (int i = 0; i < 10; i++) stray::yield();
  stray::sleep(std::chrono::milliseconds(10));
}

}  // namespace

int main() {
  stray::pprof::Profile* leaks = stray::pprof::lookup("goroutineleak");

  leaky_sender();
  leaky_receiver();
  leaky_worker();
  settle();
  std::cout << "=== goroutineleak, debug=1 ===\n";
  leaks->write_to(std::cout, 1);
  std::cout << "=== goroutineleak, debug=2 ===\n";
  leaks->write_to(std::cout, 2);

  // The leaked goroutines stay parked and stay reported; count what is new.
  int before = leaks->count();
  fixed();
  settle();
  std::cout << "=== after the fixed versions ran ===\n";
  std::cout << "new leaks: total " << leaks->count() - before << "\n";
}
