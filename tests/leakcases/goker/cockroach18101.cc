// cockroach18101.go (CockroachDB #18101): restore ranges over a channel of
// capacity 6 that splitAndScatter fills with 8 values, but returns as soon
// as the context is cancelled; the producer (G2) blocks on its 8th send
// and never reaches its deferred close.
#include "leakcase.h"

namespace leakcases {
namespace {

constexpr int chanSize_cockroach18101 = 6;

void splitAndScatter_cockroach18101(stray::Context ctx, stray::Chan<bool> readyForImportCh) {
  for (int i = 0; i < chanSize_cockroach18101 + 2; i++) readyForImportCh.send(false || i != 0);
}

bool restore_cockroach18101(stray::Context ctx) {
  auto readyForImportCh = stray::make_chan<bool>(chanSize_cockroach18101);
  stray::go([ctx, readyForImportCh] {  // G2
    Defer d{[&] { readyForImportCh.close(); }};
    splitAndScatter_cockroach18101(ctx, readyForImportCh);
  });
  for (bool readyForImportSpan : readyForImportCh) {
    // Go: a select with the single case <-ctx.Done(), compiled to a receive.
    (void)ctx.done().recv();
    return readyForImportSpan;
  }
  return true;
}

void Cockroach18101() {
  for (int i = 0; i < 100; i++) {
    auto [ctx, cancel] = stray::with_cancel(stray::background());
    stray::go(restore_cockroach18101, ctx);  // G1
    stray::go(cancel);                       // helper goroutine
  }
}

constexpr const char* kG2 =
    R"(restore_cockroach18101\(.*\)::\{lambda[^}]*\}::operator\(\)[^:]* \[chan send\])";

LEAK_CASE({.name = "Cockroach18101",
           .kind = Kind::flaky,
           .run = Cockroach18101,
           .expected = {kG2},
           .settle = std::chrono::milliseconds(100)});

}  // namespace
}  // namespace leakcases
