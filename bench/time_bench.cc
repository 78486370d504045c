// time_bench — many timers firing.
#include <chrono>

#include "bench_util.h"

using stray::bench::on_goroutine;

// One op: 10,000 goroutines each sleeping 50 µs, then waited for.
static void BM_Timers10k(benchmark::State& state) {
  on_goroutine(2, [&] {
    for (auto _ : state) {
      stray::WaitGroup wg;
      for (int i = 0; i < 10000; i++) wg.go([] { stray::sleep(std::chrono::microseconds(50)); });
      wg.wait();
    }
  });
}
BENCHMARK(BM_Timers10k)->UseRealTime();
