// leak_bench.cc — what a leak pass costs: stop the world, classify, mark,
// fixpoint, for N blocked goroutines and for M MiB of live malloc heap.
//
// Baseline in the same run: BM_ReadMemory reads the same heap sizes with a
// plain summing loop (memory bandwidth), so PassHeap/M divided by
// ReadMemory/M is the scan's overhead per byte. The goroutines in
// PassBlocked wait on channels a heap vector still holds: none is leaked,
// every stack is scanned (the healthy server with N idle connections).
// There is no Go twin: Go 1.26's goroutineleak profile runs inside its GC
// cycle, whose cost Go's own benchmarks cannot separate.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <sstream>
#include <thread>
#include <vector>

#include "stray/stray.h"

namespace {

using namespace stray;

int pass() { return pprof::lookup("goroutineleak")->count(); }

// The last pass's own figures: world-stopped time and memory scanned.
void report(benchmark::State& st) {
  pprof::PassStats ps = pprof::last_pass();
  st.counters["pause_ms"] = double(ps.pause.count()) / 1e6;
  st.counters["scanned_MiB"] = double(ps.scanned_bytes) / (1 << 20);
}

// Setup only: lets the goroutines that signalled `started` park.
void settle(WaitGroup& started) {
  started.wait();
  stray::sleep(std::chrono::milliseconds(20));
}

void wait_all_exited() {
  while (num_goroutine() > 0) std::this_thread::yield();
}

void BM_PassBlocked(benchmark::State& st) {
  const int n = int(st.range(0));
  auto chans = std::make_unique<std::vector<Chan<int>>>();
  WaitGroup started;
  started.add(n);
  for (int i = 0; i < n; i++) {
    chans->push_back(make_chan<int>());
    go([c = chans->back(), &started] {
      started.done();
      (void)c.recv();
    });
  }
  settle(started);
  int leaked = 0;
  for (auto _ : st) leaked = pass();
  if (leaked != 0) st.SkipWithError("a reachable goroutine was reported leaked");
  report(st);
  for (auto& c : *chans) c.close();
  chans.reset();
  wait_all_exited();
  st.counters["goroutines"] = n;
}
BENCHMARK(BM_PassBlocked)->Arg(1000)->Arg(10000)->Arg(100000)->Unit(benchmark::kMillisecond)->UseRealTime();

// A live heap of `mib` MiB of words that are not pointers (the scan still
// reads and classifies every one).
std::unique_ptr<uint64_t[]> make_heap(std::size_t mib) {
  std::size_t words = mib << 17;
  std::unique_ptr<uint64_t[]> h(new uint64_t[words]);
  for (std::size_t i = 0; i < words; i++) h[i] = i * 0x9E3779B97F4A7C15ull;
  return h;
}

void BM_PassHeap(benchmark::State& st) {
  auto heap = make_heap(std::size_t(st.range(0)));
  benchmark::DoNotOptimize(heap.get());
  for (auto _ : st) benchmark::DoNotOptimize(pass());
  report(st);
  st.SetBytesProcessed(int64_t(st.iterations()) * (st.range(0) << 20));
}
BENCHMARK(BM_PassHeap)->Arg(64)->Arg(1024)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_ReadMemory(benchmark::State& st) {
  auto heap = make_heap(std::size_t(st.range(0)));
  std::size_t words = std::size_t(st.range(0)) << 17;
  for (auto _ : st) {
    uint64_t sum = 0;
    for (std::size_t i = 0; i < words; i++) sum += reinterpret_cast<volatile uint64_t*>(heap.get())[i];
    benchmark::DoNotOptimize(sum);
  }
  st.SetBytesProcessed(int64_t(st.iterations()) * (st.range(0) << 20));
}
BENCHMARK(BM_ReadMemory)->Arg(64)->Arg(1024)->Unit(benchmark::kMillisecond)->UseRealTime();

// leak-cases.md's DaisyChain: 1000 goroutines each waiting on the next; the
// tail sleeps. The fixpoint must stay linear: one pass, not 1000.
void BM_PassDaisyChain(benchmark::State& st) {
  const int n = int(st.range(0));
  auto stop = make_chan<int>();
  WaitGroup started;
  started.add(n + 1);
  {
    auto next = make_chan<int>();
    go([next, stop, &started] {
      started.done();
      stray::select(recv_case(after(std::chrono::hours(1)), [](auto) {}), recv_case(stop, [](std::optional<int>) {}));
      next.send(1);
    });
    for (int i = 1; i < n; i++) {
      auto mine = make_chan<int>();
      go([mine, next, &started] {
        started.done();
        mine.send(next.recv().value());
      });
      next = mine;
    }
    go([next, &started] {
      started.done();
      (void)next.recv();
    });
  }
  settle(started);
  int leaked = 0;
  for (auto _ : st) leaked = pass();
  if (leaked != 0) st.SkipWithError("the chain was reported leaked");
  report(st);
  stop.close();
  wait_all_exited();
}
BENCHMARK(BM_PassDaisyChain)->Arg(1000)->Arg(10000)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

// ---- producing the profiles (issue 6) ----

// Tops the process up to n leaked goroutines (each receives on a channel
// only it holds). Leaked goroutines never go away: the 10k cases are
// registered, and so run, before the 100k ones.
int leaked_so_far = 0;

[[gnu::noinline]] void leak_one() {
  auto ch = make_chan<int>();
  go([ch] { (void)ch.recv(); });
}

void ensure_leaked(int n) {
  WaitGroup spawned;
  spawned.go([n] {
    for (; leaked_so_far < n; leaked_so_far++) leak_one();
  });
  spawned.wait();
  stray::sleep(std::chrono::milliseconds(50));
  pass();  // mark them, so every case measures the same steady state
}

// name: 0 goroutine, 1 goroutineleak; debug: 0 protobuf, 1 and 2 text.
void BM_Profile(benchmark::State& st) {
  const char* name = st.range(0) ? "goroutineleak" : "goroutine";
  const int debug = int(st.range(1));
  ensure_leaked(int(st.range(2)));
  std::size_t bytes = 0;
  for (auto _ : st) {
    std::ostringstream out;
    pprof::lookup(name)->write_to(out, debug);
    bytes = out.str().size();
  }
  st.SetLabel(std::string(name) + " debug=" + std::to_string(debug));
  st.counters["output_KiB"] = double(bytes) / 1024;
  report(st);
}
BENCHMARK(BM_Profile)
    ->ArgsProduct({{0, 1}, {0, 1, 2}, {10000}})
    ->ArgsProduct({{0, 1}, {0, 1, 2}, {100000}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
