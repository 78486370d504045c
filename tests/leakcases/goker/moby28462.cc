// moby28462.cc — GoKer Moby28462 (moby/moby#28462; Go:
// testgoroutineleakprofile/goker/moby28462.go). Flaky.
//
// StateChanged (G2) holds the container's lock while it sends on the health
// monitor's stop channel; the monitor (G1) polls stop between probes, each
// of which takes the container's lock. When G1 is waiting for the lock, G2
// blocks on the send with the lock held.
#include <chrono>

#include "leakcase.h"

namespace leakcases {
namespace {

using namespace std::chrono_literals;
using stray::Chan;
using stray::Unit;

struct Health_moby28462 {
  Chan<Unit> stop;

  Chan<Unit> OpenMonitorChannel() const { return stop; }
  void CloseMonitorChannel() const {
    if (stop) stop.send(Unit{});
  }
};

struct State_moby28462 {
  Health_moby28462* Health = nullptr;
};

struct Container_moby28462;
void monitor_moby28462(Container_moby28462* c, Chan<Unit> stop);

struct Container_moby28462 : stray::Mutex {  // Go: embeds sync.Mutex
  State_moby28462* State = nullptr;

  void start() { stray::go(&Container_moby28462::waitExit, this); }
  void waitExit() {}
};

struct Store_moby28462 {
  Container_moby28462* ctr = nullptr;

  Container_moby28462* Get() const { return ctr; }
};

struct Daemon_moby28462 {
  Store_moby28462 containers;

  void StateChanged() {
    Container_moby28462* c = containers.Get();
    c->lock();
    updateHealthMonitorElseBranch(c);
    c->unlock();  // Go: deferred
  }
  void updateHealthMonitorIfBranch(Container_moby28462* c) {
    Health_moby28462* h = c->State->Health;
    if (Chan<Unit> stop = h->OpenMonitorChannel()) stray::go(monitor_moby28462, c, stop);
  }
  void updateHealthMonitorElseBranch(Container_moby28462* c) {
    Health_moby28462* h = c->State->Health;
    h->CloseMonitorChannel();
  }
};

void handleProbeResult_moby28462(Container_moby28462* c) {
  stray::yield();
  c->lock();
  c->unlock();
}

void monitor_moby28462(Container_moby28462* c, Chan<Unit> stop) {
  for (;;) {
    if (stray::select(stray::recv_case(stop), stray::default_case([] {})) == 0) return;
    handleProbeResult_moby28462(c);
  }
}

void Moby28462() {
  // The catalogue says 10000 copies; Go's program runs 100.
  for (int i = 0; i < 100; i++) {
    stray::go([] {
      auto* c = new Container_moby28462;
      c->State = new State_moby28462{new Health_moby28462{stray::make_chan<Unit>()}};
      auto* d = new Daemon_moby28462{Store_moby28462{c}};
      stray::go(monitor_moby28462, c, c->State->Health->OpenMonitorChannel());  // G1
      stray::go(&Daemon_moby28462::StateChanged, d);                            // G2
    });
  }
}
constexpr const char* kMonitor = R"(monitor_moby28462(\([^{]*\))? \[sync\.Mutex\.Lock\])";
constexpr const char* kStateChanged = R"(Daemon_moby28462::StateChanged(\([^{]*\))? \[chan send\])";
LEAK_CASE({.name = "Moby28462",
           .kind = Kind::flaky,
           .run = Moby28462,
           .expected = {kMonitor, kStateChanged},
           .settle = 100ms});

}  // namespace
}  // namespace leakcases
