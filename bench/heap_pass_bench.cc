// heap_pass_bench.cc — one goroutineleak profile (debug=1) of a process
// with 10,000 leaked goroutines and 1 GiB of live heap in 64-byte objects,
// against Go 1.27 on the same shape (BenchmarkPassLeaked10kHeap1GiB in
// bench/go/bench_test.go; bench/compare.py prints stray/Go).
//
// The shape: 16Mi objects of 64 bytes (malloc'd, so tracked by
// src/runtime/heap.cc), each reachable only from a global vector of
// pointers; their words are small integers, never pointers. Every leaked
// goroutine waits in recv on a channel that only its own stack holds. The
// pass must reach and scan the vector and every object (the heap is no
// longer a root: it is scanned when reached) and report the 10,000.
// Go's twin keeps 16Mi pointer-typed 64-byte objects (its GC scans them
// as stray scans its blocks) in a global slice; Go's goroutineleak profile
// is a GC cycle with leak detection.
//
// Setup (about 1.3 GiB, a few seconds) happens once; the benchmark then
// times three profiles, after one warm-up profile that also turns the
// goroutines leaked. Run it alone: not beside the Go twin. Real time is
// the comparison; cpu_time (the process's, every thread) is there because
// on a loaded machine the single-threaded pass loses the CPU more than
// Go's two GC workers do.
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>
#include <ostream>
#include <vector>

#include "bench_util.h"
#include "stray/stray.h"

namespace {

using namespace stray;
using bench::Discard;
using bench::Obj;

constexpr std::size_t kObjects = std::size_t(16) << 20;  // x 64 B = 1 GiB
constexpr int kLeaked = 10000;

// The live heap's only root.
std::vector<Obj*> objects;

void BM_PassLeaked10kHeap1GiB(benchmark::State& st) {
  objects.reserve(kObjects);
  for (std::size_t i = 0; i < kObjects; i++) objects.push_back(new Obj{{i, i + 1, i + 2, i + 3, 0, 0, 0, 0}});
  bench::leak_goroutines(kLeaked);
  Discard discard;
  std::ostream out(&discard);
  pprof::lookup("goroutineleak")->write_to(out, 1);  // warm-up: symbolizer, first verdicts
  for (auto _ : st) pprof::lookup("goroutineleak")->write_to(out, 1);
  pprof::PassStats ps = pprof::last_pass();
  if (ps.leaked != kLeaked) st.SkipWithError("the pass did not report exactly the 10,000 leaked goroutines");
  st.counters["leaked"] = ps.leaked;
  st.counters["pause_ms"] = double(ps.pause.count()) / 1e6;
  st.counters["scanned_MiB"] = double(ps.scanned_bytes) / (1 << 20);
  for (Obj* o : objects) delete o;
  std::vector<Obj*>().swap(objects);
}
BENCHMARK(BM_PassLeaked10kHeap1GiB)
    ->Iterations(3)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->MeasureProcessCPUTime();  // cpu_time: every thread, as the Go twin's cpu-ns/op

}  // namespace
