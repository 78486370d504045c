// bench_util.h — shared fixture for stray's benchmarks. Every benchmark has
// a twin in bench/go/bench_test.go with the same name and the same work per
// op; bench/compare.sh runs both and prints stray/Go ratios.
#pragma once

#include <benchmark/benchmark.h>

#include <functional>

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

}  // namespace stray::bench
