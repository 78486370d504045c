// sync_bench — Mutex, RWMutex and WaitGroup.
#include <atomic>
#include <mutex>
#include <shared_mutex>

#include "bench_util.h"

using stray::bench::on_goroutine;

// One op: lock + unlock, no contention.
static void BM_MutexUncontended(benchmark::State& state) {
  on_goroutine(1, [&] {
    stray::Mutex m;
    for (auto _ : state) {
      m.lock();
      m.unlock();
    }
  });
}
BENCHMARK(BM_MutexUncontended)->UseRealTime();

// One op: lock + increment + unlock, by 4 goroutines on 2 procs.
static void BM_MutexContended(benchmark::State& state) {
  on_goroutine(2, [&] {
    const int per = 20000;
    for (auto _ : state) {
      stray::Mutex m;
      long counter = 0;
      stray::WaitGroup wg;
      for (int g = 0; g < 4; g++) {
        wg.go([&] {
          for (int i = 0; i < per; i++) {
            std::lock_guard<stray::Mutex> l(m);
            counter++;
          }
        });
      }
      wg.wait();
      benchmark::DoNotOptimize(counter);
    }
    state.SetItemsProcessed(state.iterations() * 4 * per);
  });
}
BENCHMARK(BM_MutexContended)->UseRealTime();

// One op: a read lock/unlock (9 in 10) or a write lock/unlock (1 in 10), by
// 4 goroutines on 2 procs.
static void BM_RWMutexReadMostly(benchmark::State& state) {
  on_goroutine(2, [&] {
    const int per = 20000;
    for (auto _ : state) {
      stray::RWMutex rw;
      long value = 0;
      stray::WaitGroup wg;
      for (int g = 0; g < 4; g++) {
        wg.go([&] {
          long sum = 0;
          for (int i = 0; i < per; i++) {
            if (i % 10 == 0) {
              std::lock_guard<stray::RWMutex> l(rw);
              value++;
            } else {
              std::shared_lock<stray::RWMutex> l(rw);
              sum += value;
            }
          }
          benchmark::DoNotOptimize(sum);
        });
      }
      wg.wait();
    }
    state.SetItemsProcessed(state.iterations() * 4 * per);
  });
}
BENCHMARK(BM_RWMutexReadMostly)->UseRealTime();

// One op: 10,000 goroutines started with WaitGroup::go and waited for.
static void BM_WaitGroupFanOut(benchmark::State& state) {
  on_goroutine(2, [&] {
    for (auto _ : state) {
      stray::WaitGroup wg;
      std::atomic<int> n{0};
      for (int i = 0; i < 10000; i++) wg.go([&n] { n.fetch_add(1, std::memory_order_relaxed); });
      wg.wait();
    }
  });
}
BENCHMARK(BM_WaitGroupFanOut)->UseRealTime();
