// stall_bench.cc — what a goroutineleak profile costs a live server: the
// worst round trip of a ping-pong goroutine pair serving while profiles
// (debug=1) are taken, against Go 1.27 on the same program
// (BenchmarkServeStall in bench/go/bench_test.go; bench/compare.py prints
// stray/Go for the profile time and, as ServeStall_*_stall, the stall).
//
// Shapes (leaked goroutines / MiB of live heap in 64-byte objects /
// writer): 10,000 / 256 and 100,000 / 0 as issue 14 states them, and
// 10,000 / 256 with a goroutine that keeps writing over the whole heap —
// there `cow_MiB` is the most memory one profile made the kernel copy
// (minor faults while it ran, x 4 KiB: the pages the program wrote while a
// snapshot child was reading its image; near zero in place).
//
// Counters: stall_ns (worst round trip while profiles ran; the ping-pong's
// own round trip is about a microsecond), pause_ms and mode (of the last
// pass: 1 snapshot, 0 in place), cow_MiB. STRAY_LEAK_MODE picks the mode.
// Leaked goroutines stay leaked: run one shape per process
// (--benchmark_filter), as compare.py does, and as Go's twin must.
#include <sys/resource.h>

#include <benchmark/benchmark.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <ostream>
#include <vector>

#include "bench_util.h"
#include "stray/stray.h"

namespace {

using namespace stray;
using bench::Discard;
using bench::Obj;

int64_t minor_faults() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_minflt;
}

void BM_ServeStall(benchmark::State& st) {
  const int leaked = int(st.range(0));
  const std::size_t objects = std::size_t(st.range(1)) << 14;  // MiB / 64 B
  const bool writer = st.range(2) != 0;
  std::vector<Obj*> heap;
  heap.reserve(objects);
  for (std::size_t i = 0; i < objects; i++) heap.push_back(new Obj{{i, i + 1, 0, 0, 0, 0, 0, 0}});
  bench::leak_goroutines(leaked);

  // The server: ping-pong on unbuffered channels; the pinger keeps the
  // worst round trip seen since `measuring` was set.
  auto ping = make_chan<int>(), pong = make_chan<int>();
  std::atomic<bool> stop{false}, measuring{false};
  std::atomic<int64_t> worst{0};
  WaitGroup served;
  served.go([&] {
    while (auto v = ping.recv()) pong.send(*v);  // until ping is closed
  });
  served.go([&] {
    while (!stop.load(std::memory_order_relaxed)) {
      auto t0 = std::chrono::steady_clock::now();
      ping.send(1);
      (void)pong.recv();
      int64_t ns = (std::chrono::steady_clock::now() - t0).count();
      if (measuring.load(std::memory_order_relaxed) && ns > worst.load(std::memory_order_relaxed)) worst.store(ns);
    }
    ping.close();
  });
  if (writer)
    served.go([&] {
      for (uint64_t round = 0; !stop.load(std::memory_order_relaxed); round++)
        for (std::size_t i = 0; i < heap.size() && !stop.load(std::memory_order_relaxed); i += 64)
          heap[i]->w[7] = round;  // one word per 4 KiB page, round after round
    });

  Discard discard;
  std::ostream out(&discard);
  pprof::lookup("goroutineleak")->write_to(out, 1);  // warm-up: symbolizer, first verdicts
  measuring = true;
  int64_t cow = 0;
  for (auto _ : st) {
    int64_t f0 = minor_faults();
    pprof::lookup("goroutineleak")->write_to(out, 1);
    cow = std::max(cow, minor_faults() - f0);
  }
  measuring = false;
  stop = true;
  served.wait();
  pprof::PassStats ps = pprof::last_pass();
  // A conservative scan may miss a few (a stale handle in a slot a live
  // frame never wrote; Go's twin misses some too), never report more.
  if (ps.leaked > leaked || ps.leaked < leaked * 99 / 100) {
    fprintf(stderr, "leaked %d mode %s fallback %s\n", ps.leaked, ps.mode.c_str(), ps.fallback.c_str());
    st.SkipWithError("the pass did not report the leaked goroutines");
  }
  st.counters["leaked"] = ps.leaked;
  st.counters["stall_ns"] = double(worst.load());
  st.counters["pause_ms"] = double(ps.pause.count()) / 1e6;
  st.counters["mode"] = ps.mode == "snapshot";
  st.counters["cow_MiB"] = double(cow) * 4096 / (1 << 20);
  for (Obj* o : heap) delete o;
}
BENCHMARK(BM_ServeStall)
    ->Args({10000, 256, 0})
    ->Args({100000, 0, 0})
    ->Args({10000, 256, 1})
    ->Iterations(5)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
