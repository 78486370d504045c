// kubernetes10182.cc — GoKer Kubernetes10182 (kubernetes/kubernetes#10182;
// Go: testgoroutineleakprofile/goker/kubernetes10182.go). Flaky.
//
// SetPodStatus sends on podStatusChannel while holding podStatusesLock (an
// RWMutex taken as a writer); the syncBatch loop receives and then takes the
// same lock in DeletePodStatus. With two SetPodStatus calls, the second one
// blocks sending with the lock held while the loop (G1) waits for the lock.
#include <chrono>
#include <mutex>

#include "leakcase.h"

namespace leakcases {
namespace {

using namespace std::chrono_literals;

struct statusManager_kubernetes10182 {
  stray::RWMutex podStatusesLock;
  stray::Chan<bool> podStatusChannel = stray::make_chan<bool>();

  void Start() {
    stray::go([this] {
      for (int i = 0; i < 2; i++) syncBatch();
    });
  }

  void syncBatch() {
    stray::yield();
    (void)podStatusChannel.recv();
    DeletePodStatus();
  }

  void DeletePodStatus() { std::lock_guard<stray::RWMutex> g(podStatusesLock); }

  void SetPodStatus() {
    std::lock_guard<stray::RWMutex> g(podStatusesLock);
    podStatusChannel.send(true);
  }
};

void Kubernetes10182() {
  for (int i = 0; i < 1000; i++) {
    stray::go([] {
      auto* s = new statusManager_kubernetes10182;
      stray::go(&statusManager_kubernetes10182::Start, s);
      stray::go(&statusManager_kubernetes10182::SetPodStatus, s);
      stray::go(&statusManager_kubernetes10182::SetPodStatus, s);
    });
  }
}
// Go reports a writer queued behind another writer as sync.Mutex.Lock (it
// waits on the RWMutex's inner Mutex); stray as sync.RWMutex.Lock.
constexpr const char* kStart =
    R"(statusManager_kubernetes10182::Start\([^{]*\)::\{lambda[^}]*\}::operator\(\)[^{]* \[sync\.(RW)?Mutex\.Lock\])";
constexpr const char* kSetPodStatus =
    R"(statusManager_kubernetes10182::SetPodStatus(\([^{]*\))? \[chan send\])";
LEAK_CASE({.name = "Kubernetes10182",
           .kind = Kind::flaky,
           .run = Kubernetes10182,
           .expected = {kStart, kSetPodStatus},
           .settle = 100ms});

}  // namespace
}  // namespace leakcases
