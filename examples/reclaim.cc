// reclaim — leaked goroutines given back (stray::reclaim_leaked; opt-in).
//
// A handler that forgets its reply channel leaks one goroutine per request,
// each holding a 64 KiB buffer. Go would keep them all forever. Here every
// thousand requests a leak pass proves them stuck and reclaim_leaked()
// resumes each with stray::goroutine_leaked from the receive it blocks in:
// its stack unwinds, the buffer is freed, the goroutine ends. The goroutine
// count stays flat. (STRAY_RECLAIM=1 does the same after every pass.)
#include <stray/stray.h>

#include <cstdio>
#include <vector>

namespace {

// The bug: the reply channel is dropped, so the receive never completes.
void handle_request(int id) {
  stray::go([id, buf = std::vector<char>(64 << 10)] {
    auto reply = stray::make_chan<int>();
    try {
      (void)reply.recv();
    } catch (const stray::goroutine_leaked& e) {
      if (id % 10000 == 0) printf("request %d: %s\n", id, e.what());
      throw;  // let it unwind to the goroutine's end
    }
  });
}

}  // namespace

int main() {
  for (int round = 1; round <= 10; round++) {
    int before = stray::num_goroutine();
    stray::WaitGroup wg;
    wg.go([round] {
      for (int i = 0; i < 1000; i++) handle_request((round - 1) * 1000 + i);
    });
    wg.wait();
    // A handler that has not reached its receive yet is not leaked yet: the
    // next round's pass finds it.
    std::size_t leaked = stray::pprof::detect_leaks().size();
    int reclaimed = stray::reclaim_leaked();
    printf("round %2d: %4d goroutines at the start, %4zu leaked, %4d reclaimed\n", round, before, leaked,
           reclaimed);
  }
  // Flat: at most this round's and the last round's stragglers remain
  // (the test suite runs this program and checks that it says so).
  int left = stray::num_goroutine();
  printf("goroutines left: %d (10000 without reclaim)\n", left);
  return left <= 2000 ? 0 : 1;
}
