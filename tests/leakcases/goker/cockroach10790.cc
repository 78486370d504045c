// cockroach10790.go (CockroachDB #10790): beginCmds waits on each of the
// replica's channels or on the context; when the context is cancelled
// first, it hands the remaining receives to a new goroutine (G3). The
// sender has also seen the cancellation and returned, so G3 waits on the
// first channel forever.
#include <vector>

#include "leakcase.h"

namespace leakcases {
namespace {

struct Replica_cockroach10790 {
  std::vector<stray::Chan<bool>> chans;

  void beginCmds(stray::Context ctx) {
    stray::Chan<stray::Unit> ctxDone = ctx.done();
    for (const stray::Chan<bool>& ch : chans) {
      if (stray::select(stray::recv_case(ch), stray::recv_case(ctxDone)) == 1) {
        stray::go([this] {  // G3
          for (const stray::Chan<bool>& c : chans) (void)c.recv();
        });
      }
    }
  }

  void sendChans(stray::Context ctx) {
    for (const stray::Chan<bool>& ch : chans) {
      bool cancelled = false;
      stray::select(stray::send_case(ch, true),
                    stray::recv_case(ctx.done(), [&] { cancelled = true; }));
      if (cancelled) return;
    }
  }
};

Replica_cockroach10790* NewReplica_cockroach10790() {
  auto* r = new Replica_cockroach10790;
  r->chans.push_back(stray::make_chan<bool>());
  r->chans.push_back(stray::make_chan<bool>());
  return r;
}

void Cockroach10790() {
  for (int i = 0; i < 100; i++) {
    stray::go([] {
      Replica_cockroach10790* r = NewReplica_cockroach10790();
      auto [ctx, cancel] = stray::with_cancel(stray::background());
      stray::go(&Replica_cockroach10790::sendChans, r, ctx);  // helper goroutine
      stray::go(&Replica_cockroach10790::beginCmds, r, ctx);  // G1
      stray::go(cancel);                                      // G2
    });
  }
}

constexpr const char* kG3 = R"(Replica_cockroach10790::beginCmds\([^)]*\))"
                            R"(::\{lambda[^}]*\}::operator\(\)[^:]* \[chan receive\])";

LEAK_CASE({.name = "Cockroach10790",
           .kind = Kind::flaky,
           .run = Cockroach10790,
           .expected = {kG3},
           .settle = std::chrono::milliseconds(100)});

}  // namespace
}  // namespace leakcases
