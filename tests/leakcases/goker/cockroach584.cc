// cockroach584.go (CockroachDB #584): gossip's bootstrap loop breaks out of
// its loop while holding g.mu once the gossip is closed (a missing Unlock
// before `break`); manage() then locks g.mu again and blocks forever.
#include "leakcase.h"

namespace leakcases {
namespace {

struct gossip_cockroach584 {
  stray::Mutex mu;  // L1
  bool closed = false;

  void bootstrap() {
    for (;;) {
      mu.lock();
      if (closed) break;  // missing mu.unlock()
      mu.unlock();
    }
  }

  void manage() {
    for (;;) {
      mu.lock();
      if (closed) break;  // missing mu.unlock()
      mu.unlock();
    }
  }
};

void Cockroach584() {
  auto* g = new gossip_cockroach584;  // Go: &gossip_cockroach584{closed: true}
  g->closed = true;
  stray::go([g] {  // G1
    g->bootstrap();
    g->manage();
  });
}

constexpr const char* kG1 =
    R"(Cockroach584\(\)::\{lambda[^}]*\}::operator\(\)[^:]* \[sync\.Mutex\.Lock\])";

LEAK_CASE({.name = "Cockroach584",
           .kind = Kind::flaky,
           .run = Cockroach584,
           .expected = {kG1}});

}  // namespace
}  // namespace leakcases
