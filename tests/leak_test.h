// leak_test.h — how the leak detector's tests state what must be reported.
//
// A test names every expected leak site — the leaked goroutine's entry
// function (bottom frame), the line it blocks on (top frame) and its wait
// reason — with an exact count, runs a pass, and fails on any site not
// found the expected number of times and on any leaked goroutine that
// matches no site (both directions, as leak-cases.md requires).
//
// Lines: a goroutine body records the line it is about to block on in an
// atomic int with AT(site) on that same line: `AT(l_send) ch.send(1);`.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "leak/leak.h"
#include "runtime/proc.h"
#include "stray/stray.h"
#include "test_util.h"

namespace stray::test {

// Why a test that leaks goroutines says so (leaves_goroutines, test_util.h):
// what it leaked stays, for its passes to find.
inline constexpr const char* kLeaks = "leaks goroutines for the leak pass to find";

#define AT(site) site.store(__LINE__, std::memory_order_relaxed);

struct Site {
  const char* entry;             // substring of the entry function's name
  const std::atomic<int>* line;  // the line it blocks on
  const char* reason;            // wait reason, without " (leaked)"
  int count;                     // how many goroutines leak there
};

inline bool matches(const pprof::Goroutine& g, const Site& s) {
  return !g.stack.empty() && g.stack.back().function.find(s.entry) != std::string::npos &&
         g.stack.front().line == s.line->load() && g.state == s.reason;
}

[[gnu::noinline]] inline std::vector<pprof::Goroutine> expect_leaks_impl(const std::vector<Site>& sites) {
  std::vector<pprof::Goroutine> leaks = pprof::detect_leaks();
  std::vector<int> found(sites.size());
  for (const auto& g : leaks) {
    EXPECT_TRUE(g.leaked);
    bool ok = false;
    for (std::size_t i = 0; i < sites.size() && !ok; i++)
      if (matches(g, sites[i])) found[i]++, ok = true;
    if (!ok) ADD_FAILURE() << "unexpected leak report:\n" << describe(g);
  }
  for (std::size_t i = 0; i < sites.size(); i++)
    EXPECT_EQ(found[i], sites[i].count) << "site " << sites[i].entry << " line " << sites[i].line->load() << " ["
                                         << sites[i].reason << "]";
  return leaks;
}

// Runs a leak pass; expects exactly `sites` (each exactly count times).
// Returns the leaked goroutines for further checks.
[[gnu::always_inline]] inline std::vector<pprof::Goroutine> expect_leaks(const std::vector<Site>& sites) {
  // The frames of the pass start out clean: slots they never write would
  // still hold what the scenario's calls (go(): a closure's address) left.
  rt::scrub_dead_stack(64 << 10);
  return expect_leaks_impl(sites);
}

[[gnu::always_inline]] inline void expect_no_leaks() { expect_leaks({}); }

// Runs a shell command (here: `go tool pprof`, the profiles' real
// consumer); returns its standard output and error.
inline std::string run(const std::string& cmd) { return run_command(cmd).out; }

// Runs f on a short-lived goroutine and waits for it. Scenarios start their
// goroutines this way, so the test thread, which runs the pass and whose
// stack is a root, never held their closures' addresses: a stale copy left
// in one of its frames would keep those stacks reachable (a false negative
// the tests would see, more often under ASan's larger frames).
// It also waits until that goroutine is gone, not only done: while it exits,
// its worker's registers (roots) may still hold what it last touched.
template <class F>
void on_goroutine(F&& f) {
  WaitGroup wg;
  std::atomic<rt::G*> self{nullptr};
  wg.go([&self, f = std::forward<F>(f)]() mutable {
    self = rt::current_goroutine();
    f();
  });
  wg.wait();
  while (self.load()->status.load() == rt::Gstatus::running) std::this_thread::yield();
}

// A channel whose only reference outside its receiver's stack is hidden
// from the scan (DESIGN.md §4's documented limit): hidden_receiver parks a
// goroutine receiving on a new channel and returns the handle's bytes
// XOR-ed (the handle is never destroyed: it keeps its count);
// send_through_hidden wakes that goroutine.
inline constexpr uintptr_t kXor = 0x5555555555555555ull;

[[gnu::noinline]] inline uintptr_t hidden_receiver() {
  auto ch = make_chan<int>();
  go([ch] { (void)ch.recv(); });
  alignas(Chan<int>) unsigned char handle[sizeof(Chan<int>)];
  ::new (handle) Chan<int>(ch);
  uintptr_t bits;
  static_assert(sizeof bits == sizeof handle);
  memcpy(&bits, handle, sizeof bits);
  memset(handle, 0, sizeof handle);
  return bits ^ kXor;
}

[[gnu::noinline]] inline void send_through_hidden(uintptr_t hidden) {
  alignas(Chan<int>) unsigned char handle[sizeof(Chan<int>)];
  uintptr_t bits = hidden ^ kXor;
  memcpy(handle, &bits, sizeof bits);
  reinterpret_cast<Chan<int>*>(handle)->send(1);
}

}  // namespace stray::test
