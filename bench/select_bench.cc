// select_bench — blocking select over 2 and 4 channels.
#include <vector>

#include "bench_util.h"

using stray::bench::on_goroutine;

// One op: a round trip between two goroutines where each side receives with
// a select over k channels (one active, k-1 idle), so every op parks on k
// channels and dequeues from k-1 again. range(0) = k (2 or 4); 1 proc.
static void BM_SelectPingPong(benchmark::State& state) {
  const int k = int(state.range(0));
  on_goroutine(1, [&] {
    auto ping = stray::make_chan<int>();
    auto pong = stray::make_chan<int>();
    std::vector<stray::Chan<int>> idle;
    for (int i = 0; i < k - 1; i++) idle.push_back(stray::make_chan<int>());
    // Receives from `from` (or an idle channel, which never fires) via select.
    auto recv_sel = [idle](stray::Chan<int>& from) {
      int got = 0;
      if (idle.size() == 1) {
        stray::select(stray::recv_case(from, [&](std::optional<int> v) { got = v ? *v : -1; }),
                      stray::recv_case(idle[0]));
      } else {
        stray::select(stray::recv_case(from, [&](std::optional<int> v) { got = v ? *v : -1; }),
                      stray::recv_case(idle[0]), stray::recv_case(idle[1]),
                      stray::recv_case(idle[2]));
      }
      return got;
    };
    stray::go([=]() mutable {
      for (;;) {
        int v = recv_sel(ping);
        if (v < 0) return;
        pong.send(v);
      }
    });
    for (auto _ : state) {
      ping.send(1);
      benchmark::DoNotOptimize(recv_sel(pong));
    }
    ping.close();
  });
}
BENCHMARK(BM_SelectPingPong)->Arg(2)->Arg(4)->UseRealTime();
