// cockroach25456.go (CockroachDB #25456): the consistency queue waits for
// the store's stopper to quiesce, but the test never stops the stopper
// (and nothing else holds it), so the goroutine waits forever.
#include "leakcase.h"

namespace leakcases {
namespace {

using stray::Unit;

struct Stopper_cockroach25456 {
  stray::Chan<Unit> quiescer;
  stray::Chan<Unit> ShouldQuiesce() const { return quiescer; }
};

Stopper_cockroach25456* NewStopper_cockroach25456() {
  return new Stopper_cockroach25456{stray::make_chan<Unit>()};
}

struct consistencyQueue_cockroach25456;

struct Store_cockroach25456 {
  Stopper_cockroach25456* stopper = nullptr;
  consistencyQueue_cockroach25456* consistencyQueue = nullptr;
  Stopper_cockroach25456* Stopper() const { return stopper; }
};

struct Replica_cockroach25456 {
  Store_cockroach25456* store;
};

Replica_cockroach25456* NewReplica_cockroach25456(Store_cockroach25456* store) {
  return new Replica_cockroach25456{store};
}

struct consistencyQueue_cockroach25456 {
  void process(Replica_cockroach25456* repl) {
    (void)repl->store->Stopper()->ShouldQuiesce().recv();
  }
};

consistencyQueue_cockroach25456* newConsistencyQueue_cockroach25456() {
  return new consistencyQueue_cockroach25456;
}

struct testContext_cockroach25456 {
  Store_cockroach25456* store = nullptr;
  Replica_cockroach25456* repl = nullptr;

  void StartWithStoreConfig(Stopper_cockroach25456* stopper) {
    if (store == nullptr) {
      store = new Store_cockroach25456;
      store->consistencyQueue = newConsistencyQueue_cockroach25456();
    }
    store->stopper = stopper;
    repl = NewReplica_cockroach25456(store);
  }
};

void Cockroach25456() {
  stray::go([] {  // G1
    Stopper_cockroach25456* stopper = NewStopper_cockroach25456();
    testContext_cockroach25456 tc;
    tc.StartWithStoreConfig(stopper);
    for (int i = 0; i < 2; i++) tc.store->consistencyQueue->process(tc.repl);
  });
}

constexpr const char* kG1 =
    R"(Cockroach25456\(\)::\{lambda[^}]*\}::operator\(\)[^:]* \[chan receive\])";

LEAK_CASE({.name = "Cockroach25456",
           .kind = Kind::strict,
           .run = Cockroach25456,
           .expected = {kG1}});

}  // namespace
}  // namespace leakcases
