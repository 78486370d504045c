// kubernetes11298.cc — GoKer Kubernetes11298 (kubernetes/kubernetes#11298;
// Go: testgoroutineleakprofile/goker/kubernetes11298.go). Flaky.
//
// serviceLoop holds n.lock and, round after round, starts a goroutine (After)
// that calls n.cond.Wait — which unlocks n.lock on serviceLoop's behalf —
// while a signaller loop (Until) keeps signalling n.cond until abort closes.
// When abort closes, serviceLoop signals once more and waits for the round's
// goroutine; if that goroutine had not reached Wait yet, the signal is lost:
// it waits on the Cond forever, serviceLoop forever on its channel, and the
// copy's main goroutine forever on notifyDone.
#include <chrono>
#include <functional>
#include <mutex>

#include "leakcase.h"

namespace leakcases {
namespace {

using namespace std::chrono_literals;
using stray::Chan;
using stray::Unit;

using Signal_kubernetes11298 = Chan<Unit>;  // Go: <-chan struct{}

// Go: select { case <-c: return true; default: return false }.
bool ready(const Chan<Unit>& c) {
  return stray::select(stray::recv_case(c), stray::default_case([] {})) == 0;
}

Signal_kubernetes11298 After_kubernetes11298(std::function<void()> f) {
  auto ch = stray::make_chan<Unit>();
  stray::go([ch, f] {
    if (f) f();
    ch.close();  // Go: deferred
  });
  return ch;
}

void Until_kubernetes11298(std::function<void()> f, stray::duration period, Chan<Unit> stopCh) {
  if (!f) return;
  for (;;) {
    if (ready(stopCh)) return;
    f();
    stray::select(stray::recv_case(stopCh), stray::recv_case(stray::after(period)));
  }
}

struct notifier_kubernetes11298 {
  stray::Mutex lock;
  stray::Cond* cond = nullptr;

  void serviceLoop(Chan<Unit> abort) {
    lock.lock();
    for (;;) {
      if (ready(abort)) break;
      Signal_kubernetes11298 ch = After_kubernetes11298([this] { cond->wait(); });
      if (stray::select(stray::recv_case(abort), stray::recv_case(ch)) == 0) {
        cond->signal();
        (void)ch.recv();
        break;
      }
    }
    lock.unlock();  // Go: deferred
  }
};

void Notify_kubernetes11298(Chan<Unit> abort) {
  auto* n = new notifier_kubernetes11298;
  n->cond = new stray::Cond(n->lock);  // Go: sync.NewCond(&n.lock)
  Signal_kubernetes11298 finished = After_kubernetes11298([n, abort] {
    Until_kubernetes11298(
        [n, abort] {
          for (;;) {
            if (ready(abort)) return;
            {
              std::lock_guard<stray::Mutex> g(n->lock);
              n->cond->signal();
            }
            stray::yield();  // Go preempts this loop; stray's goroutines are cooperative
          }
        },
        0ns, abort);
  });
  Until_kubernetes11298([n, finished] { n->serviceLoop(finished); }, 0ns, abort);
}

void Kubernetes11298() {
  for (int i = 0; i < 1000; i++) {
    stray::go([] {
      auto done = stray::make_chan<Unit>();
      Signal_kubernetes11298 notifyDone =
          After_kubernetes11298([done] { Notify_kubernetes11298(done); });
      stray::go([done] {
        stray::sleep(300ns);
        done.close();  // Go: deferred
      });
      (void)notifyDone.recv();
    });
  }
}
constexpr const char* kAfterRecv =
    R"(After_kubernetes11298\([^{]*\)::\{lambda[^}]*\}::operator\(\)[^{]* \[chan receive\])";
constexpr const char* kAfterWait =
    R"(After_kubernetes11298\([^{]*\)::\{lambda[^}]*\}::operator\(\)[^{]* \[sync\.Cond\.Wait\])";
constexpr const char* kMain =
    R"(Kubernetes11298\([^{]*\)::\{lambda[^}]*\}::operator\(\)[^{]* \[chan receive\])";
LEAK_CASE({.name = "Kubernetes11298",
           .kind = Kind::flaky,
           .run = Kubernetes11298,
           .expected = {kAfterRecv, kAfterWait, kMain},
           .settle = 100ms});

}  // namespace
}  // namespace leakcases
