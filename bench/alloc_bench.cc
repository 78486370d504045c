// alloc_bench.cc — what heap attribution (src/runtime/heap.cc: the malloc
// interposer and its index of live allocations) costs the programs that
// link stray, on their allocation path and in memory.
//
// Built twice from this source (bench/CMakeLists.txt):
// * alloc_bench links stray: every malloc and free goes through the
//   interposer; run as is (tracked) and with STRAY_HEAP_TRACKING=0 (the
//   wrapper without the recording);
// * alloc_bench_plain does not link stray (STRAY_ALLOC_BENCH_PLAIN): glibc's
//   malloc, the untracked baseline. This source then names no stray symbol.
// bench/compare.py runs the three and prints tracked/plain and off/plain
// per benchmark (the targets: churns <= 1.10, raw pairs <= 1.5).
//
// Index memory (stray build only): BM_IndexBytesPerAlloc keeps N live
// blocks of one size and reports the index's resident growth per block,
// beside the allocator's stride between blocks (the index costs
// about stride/8 + stride/512: a shadow byte per 8-byte granule, a hint
// word per page).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <vector>

#ifndef STRAY_ALLOC_BENCH_PLAIN
#include "runtime/heap.h"
#endif

namespace {

// Deterministic keys: the three builds do the same work.
struct XorShift {
  uint64_t s = 0x9E3779B97F4A7C15ull;
  uint64_t next() {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
  }
};

void label_tracking(benchmark::State& st) {
#ifdef STRAY_ALLOC_BENCH_PLAIN
  st.counters["tracking"] = 0;
#else
  st.counters["tracking"] = stray::rt::heap::active();
#endif
}

// A std::map<int, std::string> over a bounded key space, about half full:
// each op finds a random key and erases it if present (two frees: string,
// node), inserts it with a 40-char string otherwise (two mallocs). The
// string is longer than libstdc++'s 15-char SSO buffer.
void BM_AllocMapChurn(benchmark::State& st) {
  const int keys = int(st.range(0));
  std::map<int, std::string> m;
  XorShift rng;
  for (int k = 0; k < keys; k += 2) m.emplace(k, std::string(40, 'a' + k % 26));
  for (auto _ : st) {
    int k = int(rng.next() % uint64_t(keys));
    auto it = m.find(k);
    if (it != m.end()) m.erase(it);
    else m.emplace(k, std::string(40, 'a' + k % 26));
  }
  benchmark::DoNotOptimize(m.size());
  label_tracking(st);
}
BENCHMARK(BM_AllocMapChurn)->Arg(1024)->UseRealTime();

// std::make_shared churn: create a batch of small objects (one 32-byte
// allocation each: control block and object), then drop the batch. One op
// is one batch; items_per_second counts objects.
struct Small {
  int64_t a = 1, b = 2;
};

void BM_AllocSharedChurn(benchmark::State& st) {
  const int batch = int(st.range(0));
  std::vector<std::shared_ptr<Small>> v;
  v.reserve(std::size_t(batch));
  for (auto _ : st) {
    for (int i = 0; i < batch; i++) v.push_back(std::make_shared<Small>());
    benchmark::DoNotOptimize(v.data());
    v.clear();
  }
  st.SetItemsProcessed(int64_t(st.iterations()) * batch);
  label_tracking(st);
}
BENCHMARK(BM_AllocSharedChurn)->Arg(1000)->UseRealTime();

// A raw malloc(32) + free pair (glibc: a tcache hit both ways), from one
// and from two threads at once.
void BM_AllocMallocFree32(benchmark::State& st) {
  for (auto _ : st) {
    void* p = malloc(32);
    benchmark::DoNotOptimize(p);
    free(p);
  }
  if (st.thread_index() == 0) label_tracking(st);
}
BENCHMARK(BM_AllocMallocFree32)->Threads(1)->Threads(2)->UseRealTime();

#ifndef STRAY_ALLOC_BENCH_PLAIN
// Index memory per live allocation: N blocks of range(0) bytes, the index's
// resident bytes (mincore over its segments) read before and after. The
// blocks stay allocated to the end of the process: freed, the next size's
// blocks would reuse their address space and find its index pages already
// resident. Registered last, so the churns above run on a small heap.
void BM_IndexBytesPerAlloc(benchmark::State& st) {
  namespace heap = stray::rt::heap;
  constexpr std::size_t n = 1'000'000;
  const std::size_t size = std::size_t(st.range(0));
  auto* blocks = new std::vector<void*>();  // never freed: see above
  blocks->reserve(n);
  std::size_t before = heap::index_resident_bytes();
  for (auto _ : st)
    for (std::size_t i = 0; i < n; i++) blocks->push_back(malloc(size));
  std::size_t after = heap::index_resident_bytes();
  // The allocator's stride: the median distance between consecutive blocks
  // (a few come from free lists elsewhere).
  std::vector<uintptr_t> gaps;
  for (std::size_t i = 1; i < n; i += 97)
    gaps.push_back(reinterpret_cast<uintptr_t>((*blocks)[i]) - reinterpret_cast<uintptr_t>((*blocks)[i - 1]));
  std::nth_element(gaps.begin(), gaps.begin() + gaps.size() / 2, gaps.end());
  st.counters["index_B_per_alloc"] = double(after - before) / double(n);
  st.counters["heap_B_per_alloc"] = double(gaps[gaps.size() / 2]);
  st.counters["index_MiB"] = double(after) / (1 << 20);
  label_tracking(st);
}
BENCHMARK(BM_IndexBytesPerAlloc)->Arg(32)->Arg(64)->Arg(256)->Iterations(1)->Unit(benchmark::kMillisecond);
#endif

}  // namespace
