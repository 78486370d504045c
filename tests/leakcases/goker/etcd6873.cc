// etcd6873.go (etcd #6873): stop holds wbs.mu while it closes updatec and
// waits for the coalescing goroutine to finish; that goroutine is still
// handling an update and needs wbs.mu, so both wait forever.
#include <mutex>

#include "leakcase.h"

namespace leakcases {
namespace {

struct watchBroadcast_etcd6873 {};

struct watchBroadcasts_etcd6873 {
  stray::Mutex mu;
  stray::Chan<watchBroadcast_etcd6873*> updatec;
  stray::Chan<stray::Unit> donec;

  void coalesce(watchBroadcast_etcd6873* wb) {
    mu.lock();
    mu.unlock();
  }

  void stop() {
    std::lock_guard<stray::Mutex> l(mu);
    updatec.close();
    (void)donec.recv();
  }

  void update(watchBroadcast_etcd6873* wb) { (void)updatec.try_send(wb); }
};

watchBroadcasts_etcd6873* newWatchBroadcasts_etcd6873() {
  auto* wbs = new watchBroadcasts_etcd6873;
  wbs->updatec = stray::make_chan<watchBroadcast_etcd6873*>(1);
  wbs->donec = stray::make_chan<stray::Unit>();
  stray::go([wbs] {  // G2
    Defer d{[wbs] { wbs->donec.close(); }};
    for (watchBroadcast_etcd6873* wb : wbs->updatec) wbs->coalesce(wb);
  });
  return wbs;
}

void Etcd6873() {
  for (int i = 0; i < 100; i++) {
    stray::go([] {
      watchBroadcasts_etcd6873* wbs = newWatchBroadcasts_etcd6873();  // G1
      wbs->update(new watchBroadcast_etcd6873);
      stray::go(&watchBroadcasts_etcd6873::stop, wbs);  // G3
    });
  }
}

constexpr const char* kG3 = R"(watchBroadcasts_etcd6873::stop\(\)[^:]* \[chan receive\])";
constexpr const char* kG2 =
    R"(newWatchBroadcasts_etcd6873\(\)::\{lambda[^}]*\}::operator\(\)[^:]* \[sync\.Mutex\.Lock\])";

LEAK_CASE({.name = "Etcd6873",
           .kind = Kind::flaky,
           .run = Etcd6873,
           .expected = {kG3, kG2},
           .settle = std::chrono::milliseconds(100)});

}  // namespace
}  // namespace leakcases
