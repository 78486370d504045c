// proc_bench — goroutine spawn+finish and the memory of a parked goroutine.
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <thread>

#include "bench_util.h"

using stray::bench::on_goroutine;

// One op: a goroutine spawned, run and finished.
static void BM_SpawnFinish(benchmark::State& state) {
  on_goroutine(int(state.range(0)), [&] {
    for (auto _ : state) {
      const int batch = 1000;
      std::atomic<int> left{batch};
      auto done = stray::make_chan<stray::Unit>(1);
      for (int i = 0; i < batch; i++) {
        stray::go([&left, done]() mutable {
          if (left.fetch_sub(1) == 1) done.send({});
        });
      }
      done.recv();
    }
  });
  state.SetItemsProcessed(state.iterations() * 1000);
}
BENCHMARK(BM_SpawnFinish)->Arg(1)->Arg(2)->UseRealTime();

// Baseline: a std::thread started and joined.
static void BM_ThreadSpawnJoin(benchmark::State& state) {
  for (auto _ : state) {
    std::thread t([] {});
    t.join();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ThreadSpawnJoin)->UseRealTime();

static long rss_bytes() {
  long pages = 0, resident = 0;
  FILE* f = fopen("/proc/self/statm", "r");
  if (f) {
    if (fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    fclose(f);
  }
  return resident * sysconf(_SC_PAGESIZE);
}

// Memory per parked goroutine: RSS growth while 100k goroutines block on a
// receive, divided by 100k (counter bytes_per_goroutine).
static void BM_ParkedMemory(benchmark::State& state) {
  const int n = 100000;
  double per = 0;
  on_goroutine(2, [&] {
    for (auto _ : state) {
      auto gate = stray::make_chan<stray::Unit>();
      auto parked = stray::make_chan<stray::Unit>(n);
      long before = rss_bytes();
      for (int i = 0; i < n; i++) {
        stray::go([gate, parked]() mutable {
          parked.send({});
          gate.recv();
        });
      }
      for (int i = 0; i < n; i++) parked.recv();
      long after = rss_bytes();
      per = double(after - before) / n;
      gate.close();
    }
  });
  state.counters["bytes_per_goroutine"] = per;
}
BENCHMARK(BM_ParkedMemory)->Iterations(1)->UseRealTime();
