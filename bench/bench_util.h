// bench_util.h — shared fixture for stray's benchmarks. Every benchmark has
// a twin in bench/go/bench_test.go with the same name and the same work per
// op; bench/compare.sh runs both and prints stray/Go ratios.
#pragma once

#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <streambuf>

#include "stray/stray.h"

namespace stray::bench {

// Runs f on a goroutine with procs() set to `procs`, and waits for it: the
// Go twins run inside the benchmark's goroutine too, so both spawn and block
// from a goroutine, not from a plain thread.
inline void on_goroutine(int procs, std::function<void()> f) {
  int saved = stray::procs();
  stray::set_procs(procs);
  auto done = stray::make_chan<Unit>();
  stray::go([&f, done]() mutable {
    f();
    done.send({});
  });
  done.recv();
  stray::set_procs(saved);
}

// ---- the leak-pass benchmarks' shape (heap_pass_bench, stall_bench) ----

// A 64-byte heap object holding no pointer (Go twin: obj64).
struct Obj {
  uint64_t w[8];
};
static_assert(sizeof(Obj) == 64);

// Go's io.Discard: profiles are written and thrown away.
class Discard : public std::streambuf {
 protected:
  int overflow(int c) override { return c; }
  std::streamsize xsputn(const char*, std::streamsize n) override { return n; }
};

// One goroutine blocked for good on a channel only its own stack holds.
[[gnu::noinline]] inline void leak_one(WaitGroup* parked) {
  auto ch = make_chan<int>();
  go([ch, parked] {
    parked->done();
    (void)ch.recv();
  });
}

// Leaks n such goroutines from a goroutine that then exits, so that no
// live stack keeps a stale copy of a channel handle.
inline void leak_goroutines(int n) {
  WaitGroup parked, spawned;
  parked.add(n);
  spawned.go([&parked, n] {
    for (int i = 0; i < n; i++) leak_one(&parked);
  });
  spawned.wait();
  parked.wait();
  stray::sleep(std::chrono::milliseconds(50));  // let the last ones park in recv
}

}  // namespace stray::bench
