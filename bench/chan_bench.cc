// chan_bench — unbuffered ping-pong and buffered throughput.
#include <condition_variable>
#include <mutex>
#include <thread>

#include "bench_util.h"

using stray::bench::on_goroutine;

// One op: a round trip between two goroutines over two unbuffered channels.
static void BM_PingPong(benchmark::State& state) {
  on_goroutine(int(state.range(0)), [&] {
    auto ping = stray::make_chan<int>();
    auto pong = stray::make_chan<int>();
    stray::go([ping, pong]() mutable {
      for (int v : ping) pong.send(v);
    });
    for (auto _ : state) {
      ping.send(1);
      benchmark::DoNotOptimize(pong.recv());
    }
    ping.close();
  });
}
BENCHMARK(BM_PingPong)->Arg(1)->Arg(2)->UseRealTime();

// Baseline: the same round trip between two std::threads with a mutex and
// condition variables.
static void BM_ThreadPingPong(benchmark::State& state) {
  std::mutex mu;
  std::condition_variable cv;
  int turn = 0;  // 0: main's turn to ping, 1: peer's turn, -1: stop
  std::thread peer([&] {
    std::unique_lock<std::mutex> l(mu);
    for (;;) {
      cv.wait(l, [&] { return turn != 0; });
      if (turn < 0) return;
      turn = 0;
      cv.notify_all();
    }
  });
  for (auto _ : state) {
    std::unique_lock<std::mutex> l(mu);
    turn = 1;
    cv.notify_all();
    cv.wait(l, [&] { return turn == 0; });
  }
  {
    std::lock_guard<std::mutex> l(mu);
    turn = -1;
  }
  cv.notify_all();
  peer.join();
}
BENCHMARK(BM_ThreadPingPong)->UseRealTime();

// One op: one value through a buffered channel (cap 128) with P producers
// and P consumers (range(0) = P), on 2 procs.
static void BM_Buffered(benchmark::State& state) {
  const int p = int(state.range(0));
  on_goroutine(2, [&] {
    const int per = 10000;
    for (auto _ : state) {
      auto c = stray::make_chan<int>(128);
      auto done = stray::make_chan<long>(p);
      for (int i = 0; i < p; i++) {
        stray::go([c]() mutable {
          for (int k = 0; k < per; k++) c.send(k);
        });
        stray::go([c, done]() mutable {
          long sum = 0;
          for (int k = 0; k < per; k++) sum += *c.recv();
          done.send(sum);
        });
      }
      for (int i = 0; i < p; i++) benchmark::DoNotOptimize(done.recv());
    }
    state.SetItemsProcessed(state.iterations() * p * per);
  });
}
BENCHMARK(BM_Buffered)->Arg(1)->Arg(4)->UseRealTime();
