// kubernetes58107.cc — GoKer Kubernetes58107 (kubernetes/kubernetes#58107;
// Go: testgoroutineleakprofile/goker/kubernetes58107.go). Flaky. (Not in
// the catalogue's table; Go's goroutineleakprofile_test.go lists it.)
//
// Each worker read-locks workerLock and waits on its queue's Cond inside.
// The signals stop after a while: a worker that starts waiting after the
// last signal waits forever with the read lock held, Sync then waits forever
// for the write lock, and the other worker's RLock waits behind Sync.
#include <chrono>
#include <string>

#include "leakcase.h"

namespace leakcases {
namespace {

using namespace std::chrono_literals;

struct RateLimitingInterface_kubernetes58107 {  // Go: an interface
  virtual void Get() = 0;
  virtual void Put() = 0;

 protected:
  ~RateLimitingInterface_kubernetes58107() = default;
};

struct Type_kubernetes58107 final : RateLimitingInterface_kubernetes58107 {
  stray::Mutex* L = nullptr;  // Go: cond.L
  stray::Cond* cond = nullptr;

  void Get() override {
    L->lock();
    cond->wait();
    L->unlock();  // Go: deferred
  }
  void Put() override { cond->signal(); }
};

// Go: &Type{sync.NewCond(&sync.Mutex{})}.
Type_kubernetes58107* NewType_kubernetes58107() {
  auto* t = new Type_kubernetes58107;
  t->L = new stray::Mutex;
  t->cond = new stray::Cond(*t->L);
  return t;
}

struct ResourceQuotaController_kubernetes58107 {
  stray::RWMutex workerLock;
  RateLimitingInterface_kubernetes58107* queue = nullptr;
  RateLimitingInterface_kubernetes58107* missingUsageQueue = nullptr;

  void worker(RateLimitingInterface_kubernetes58107* q, std::string) {
    auto workFunc = [this, q] {
      workerLock.lock_shared();
      q->Get();
      workerLock.unlock_shared();  // Go: deferred
      return true;
    };
    for (;;) {
      if (workFunc()) return;  // Go: if quit := workFunc(); quit
    }
  }

  void Run() {
    stray::go(&ResourceQuotaController_kubernetes58107::worker, this, queue,
              std::string("G1"));  // G3
    stray::go(&ResourceQuotaController_kubernetes58107::worker, this, missingUsageQueue,
              std::string("G2"));  // G4
  }

  void Sync() {
    for (int i = 0; i < 100000; i++) {
      workerLock.lock();
      stray::yield();
      workerLock.unlock();
    }
  }

  void HelperSignals() {
    for (int i = 0; i < 100000; i++) {
      queue->Put();
      missingUsageQueue->Put();
    }
  }
};

void startResourceQuotaController_kubernetes58107() {
  auto* resourceQuotaController = new ResourceQuotaController_kubernetes58107;
  resourceQuotaController->queue = NewType_kubernetes58107();
  resourceQuotaController->missingUsageQueue = NewType_kubernetes58107();
  stray::go(&ResourceQuotaController_kubernetes58107::Run, resourceQuotaController);   // G2
  stray::go(&ResourceQuotaController_kubernetes58107::Sync, resourceQuotaController);  // G5
  resourceQuotaController->HelperSignals();
}

void Kubernetes58107() {
  // Go runs 1000 copies; 250 here: each copy's 200000 signals cost ~0.7 s of
  // the run with 1000 (over 2 s with the 1 s settle).
  for (int i = 0; i < 250; i++) stray::go(startResourceQuotaController_kubernetes58107);  // G1
}
constexpr const char* kWorkerWait =
    R"(ResourceQuotaController_kubernetes58107::worker(\([^{]*\))? \[sync\.Cond\.Wait\])";
constexpr const char* kWorkerRLock =
    R"(ResourceQuotaController_kubernetes58107::worker(\([^{]*\))? \[sync\.RWMutex\.RLock\])";
constexpr const char* kSync =
    R"(ResourceQuotaController_kubernetes58107::Sync(\([^{]*\))? \[sync\.RWMutex\.Lock\])";
LEAK_CASE({.name = "Kubernetes58107",
           .kind = Kind::flaky,
           .run = Kubernetes58107,
           .expected = {kWorkerWait, kWorkerRLock, kSync},
           .settle = 1000ms});

}  // namespace
}  // namespace leakcases
