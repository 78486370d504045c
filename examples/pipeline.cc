// pipeline — the README's demo: a generator, a pool of squaring workers and a
// summing stage, connected by channels, with a select-based timeout-free
// fan-in. Prints what each stage did and checks the result.
#include <cstdio>
#include <vector>

#include "stray/stray.h"

// Sends 1..n on out, then closes it.
void generate(stray::Chan<int> out, int n) {
  for (int i = 1; i <= n; i++) out.send(i);
  out.close();
}

// Squares every value from in; signals done when in is closed and drained.
void square(stray::Chan<int> in, stray::Chan<long> out, stray::Chan<stray::Unit> done) {
  for (int v : in) out.send(long(v) * v);
  done.send({});
}

int main() {
  const int n = 1000, workers = 8;
  auto numbers = stray::make_chan<int>(16);
  auto squares = stray::make_chan<long>(16);
  auto done = stray::make_chan<stray::Unit>();

  stray::go(generate, numbers, n);
  for (int w = 0; w < workers; w++) stray::go(square, numbers, squares, done);

  // Collect squares until every worker reported done (select over both).
  long sum = 0;
  int received = 0, finished = 0;
  while (finished < workers || squares.len() > 0) {
    stray::select(
        stray::recv_case(squares, [&](std::optional<long> v) { sum += *v, received++; }),
        stray::recv_case(done, [&] { finished++; }));
  }
  long want = long(n) * (n + 1) * (2 * n + 1) / 6;
  printf("procs=%d  squared %d numbers with %d goroutines: sum %ld (%s)\n", stray::procs(),
         received, workers + 1, sum, sum == want ? "correct" : "WRONG");
  return sum == want ? 0 : 1;
}
