// context_bench — building and cancelling a cancellation tree.
#include <vector>

#include "bench_util.h"

using stray::bench::on_goroutine;

// One op: a tree of 10,000 cancelable contexts (100 children of the root,
// 99 grandchildren each) built, then cancelled from the root.
static void BM_ContextCancelTree(benchmark::State& state) {
  on_goroutine(1, [&] {
    for (auto _ : state) {
      auto [root, cancel] = stray::with_cancel(stray::background());
      std::vector<stray::Context> keep;
      std::vector<stray::CancelFunc> cancels;
      keep.reserve(10000);
      cancels.reserve(10000);
      for (int i = 0; i < 100; i++) {
        auto [mid, cm] = stray::with_cancel(root);
        for (int k = 0; k < 99; k++) {
          auto [leaf, cl] = stray::with_cancel(mid);
          keep.push_back(std::move(leaf));
          cancels.push_back(std::move(cl));
        }
        keep.push_back(std::move(mid));
        cancels.push_back(std::move(cm));
      }
      cancel();
      benchmark::DoNotOptimize(keep.back().err());
    }
  });
}
BENCHMARK(BM_ContextCancelTree)->UseRealTime();
