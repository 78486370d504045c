// cockroach24808.go (CockroachDB #24808): the compactor's channel has
// capacity 1 and the test has already filled it; Compactor.Start sends on
// it before starting the worker that would drain it, so the goroutine
// blocks in that send and never reaches its deferred stopper.Stop.
#include <functional>

#include "leakcase.h"

namespace leakcases {
namespace {

using stray::Unit;

struct Stopper_cockroach24808 {
  stray::WaitGroup stop;
  stray::Chan<Unit> stopper;

  void RunWorker(stray::Context ctx, std::function<void(stray::Context)> f) {
    stop.add(1);
    stray::go([this, ctx, f] {
      Defer d{[this] { stop.done(); }};
      f(ctx);
    });
  }
  stray::Chan<Unit> ShouldStop() const { return stopper; }
  void Stop() { stopper.close(); }
};

struct Compactor_cockroach24808 {
  stray::Chan<Unit> ch;

  void Start(stray::Context ctx, Stopper_cockroach24808* stopper) {
    ch.send(Unit{});
    stopper->RunWorker(ctx, [this, stopper](stray::Context) {
      for (;;) {
        if (stray::select(stray::recv_case(stopper->ShouldStop()), stray::recv_case(ch)) == 0)
          return;
      }
    });
  }
};

void Cockroach24808() {
  stray::go([] {  // G1
    auto* stopper = new Stopper_cockroach24808;
    stopper->stopper = stray::make_chan<Unit>();
    Defer d{[stopper] { stopper->Stop(); }};
    auto* compactor = new Compactor_cockroach24808{stray::make_chan<Unit>(1)};
    compactor->ch.send(Unit{});
    compactor->Start(stray::background(), stopper);
  });
}

constexpr const char* kG1 =
    R"(Cockroach24808\(\)::\{lambda[^}]*\}::operator\(\)[^:]* \[chan send\])";

LEAK_CASE({.name = "Cockroach24808",
           .kind = Kind::strict,
           .run = Cockroach24808,
           .expected = {kG1}});

}  // namespace
}  // namespace leakcases
