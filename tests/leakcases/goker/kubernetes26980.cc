// kubernetes26980.cc — GoKer Kubernetes26980 (kubernetes/kubernetes#26980;
// Go: testgoroutineleakprofile/goker/kubernetes26980.go). Flaky.
//
// pop (G1) takes the listener's lock and, with a notification pending,
// waits for stopCh while still holding it. The copy's main goroutine (func2)
// closes stopCh only on return, after it has received from resultCh, which
// its child (func2.1) closes only once it has the lock: pop waits on stopCh,
// func2.1 on the lock, func2 on resultCh.
#include <chrono>
#include <mutex>
#include <vector>

#include "leakcase.h"

namespace leakcases {
namespace {

using namespace std::chrono_literals;
using stray::Chan;
using stray::Unit;

struct processorListener_kubernetes26980 {
  stray::RWMutex lock;
  // Go: cond.L = &lock, the RWMutex as a sync.Locker. stray::Cond binds a
  // Mutex only, so the Cond has its own Mutex, held by the waiter from
  // before it releases lock until it is queued, and by Broadcast: no wakeup
  // is lost. (pop never waits here: a notification is always pending.)
  stray::Mutex condL;
  stray::Cond cond{condL};
  std::vector<int> pendingNotifications;  // Go: []interface{}

  void add(int notification) {
    std::lock_guard<stray::RWMutex> g(lock);
    pendingNotifications.push_back(notification);
    std::lock_guard<stray::Mutex> c(condL);
    cond.broadcast();
  }

  // Go: p.cond.Wait() with cond.L == &lock.
  void cond_wait() {
    condL.lock();
    lock.unlock();
    cond.wait();
    condL.unlock();
    lock.lock();
  }

  void pop(Chan<Unit> stopCh) {
    lock.lock();
    stray::yield();
    for (;;) {
      while (pendingNotifications.empty()) {
        if (stray::select(stray::recv_case(stopCh), stray::default_case([] {})) == 0) {
          lock.unlock();  // Go: deferred
          return;
        }
        cond_wait();
      }
      (void)stopCh.recv();  // Go: a one-case select
      lock.unlock();        // Go: deferred
      return;
    }
  }
};

processorListener_kubernetes26980* newProcessListener_kubernetes26980() {
  return new processorListener_kubernetes26980;
}

void Kubernetes26980() {
  for (int i = 0; i < 3000; i++) {
    stray::go([] {
      processorListener_kubernetes26980* pl = newProcessListener_kubernetes26980();
      auto stopCh = stray::make_chan<Unit>();
      struct CloseOnReturn {  // Go: defer close(stopCh)
        Chan<Unit> c;
        ~CloseOnReturn() { c.close(); }
      } close_stop{stopCh};
      pl->add(1);
      stray::yield();
      stray::go(&processorListener_kubernetes26980::pop, pl, stopCh);
      auto resultCh = stray::make_chan<Unit>();
      stray::go([pl, resultCh] {
        pl->lock.lock();
        resultCh.close();
      });
      stray::yield();
      (void)resultCh.recv();
      pl->lock.unlock();
    });
  }
}
constexpr const char* kFunc2 =
    R"(Kubernetes26980\([^{]*\)::\{lambda[^}]*\}::operator\(\)[^{]* \[chan receive\])";
// Go: sync.Mutex.Lock (a writer behind a writer); stray: sync.RWMutex.Lock.
constexpr const char* kFunc21 =
    R"(Kubernetes26980\([^{]*\)::\{lambda[^}]*\}::operator\(\)[^{]*::\{lambda[^}]*\}::operator\(\)[^{]* \[sync\.(RW)?Mutex\.Lock\])";
constexpr const char* kPop =
    R"(processorListener_kubernetes26980::pop(\([^{]*\))? \[chan receive\])";
LEAK_CASE({.name = "Kubernetes26980",
           .kind = Kind::flaky,
           .run = Kubernetes26980,
           .expected = {kFunc2, kFunc21, kPop},
           .settle = 100ms});

}  // namespace
}  // namespace leakcases
