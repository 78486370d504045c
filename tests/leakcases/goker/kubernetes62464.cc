// kubernetes62464.cc — GoKer Kubernetes62464 (kubernetes/kubernetes#62464;
// Go: testgoroutineleakprofile/goker/kubernetes62464.go). Flaky.
//
// reconcileState (G1) read-locks the state's RWMutex and, inside, read-locks
// it again (GetCPUSet); RemoveContainer (G2) write-locks it in between. The
// writer waits for G1's first read lock, G1's second RLock waits behind the
// writer.
#include <chrono>
#include <utility>

#include "leakcase.h"

namespace leakcases {
namespace {

using namespace std::chrono_literals;

struct State_kubernetes62464 {  // Go: an interface
  virtual void GetCPUSetOrDefault() = 0;
  virtual bool GetCPUSet() = 0;
  virtual void GetDefaultCPUSet() = 0;
  virtual void SetDefaultCPUSet() = 0;

 protected:
  ~State_kubernetes62464() = default;
};

struct stateMemory_kubernetes62464 final : State_kubernetes62464,
                                           stray::RWMutex {  // Go: embeds sync.RWMutex
  void GetCPUSetOrDefault() override {
    lock_shared();
    if (GetCPUSet()) {
      unlock_shared();  // Go: deferred
      return;
    }
    GetDefaultCPUSet();
    unlock_shared();  // Go: deferred
  }
  bool GetCPUSet() override {
    stray::yield();
    lock_shared();
    bool ok = rand_intn(10) > 5;
    unlock_shared();  // Go: deferred
    return ok;
  }
  void GetDefaultCPUSet() override {
    lock_shared();
    unlock_shared();
  }
  void SetDefaultCPUSet() override {
    lock();
    stray::yield();
    unlock();  // Go: deferred
  }
};

struct staticPolicy_kubernetes62464 {
  void RemoveContainer(State_kubernetes62464* s) {
    s->GetDefaultCPUSet();
    s->SetDefaultCPUSet();
  }
};

struct manager_kubernetes62464 {
  stateMemory_kubernetes62464* state = nullptr;

  void reconcileState() { state->GetCPUSetOrDefault(); }
};

std::pair<staticPolicy_kubernetes62464*, manager_kubernetes62464*>
NewPolicyAndManager_kubernetes62464() {
  auto* s = new stateMemory_kubernetes62464;
  auto* m = new manager_kubernetes62464{s};
  auto* p = new staticPolicy_kubernetes62464;
  return {p, m};
}

void Kubernetes62464() {
  for (int i = 0; i < 1000; i++) {
    stray::go([] {
      auto [p, m] = NewPolicyAndManager_kubernetes62464();
      stray::go(&manager_kubernetes62464::reconcileState, m);
      stray::go(&staticPolicy_kubernetes62464::RemoveContainer, p,
                static_cast<State_kubernetes62464*>(m->state));
    });
  }
}
constexpr const char* kReconcile =
    R"(manager_kubernetes62464::reconcileState(\([^{]*\))? \[sync\.RWMutex\.RLock\])";
constexpr const char* kRemove =
    R"(staticPolicy_kubernetes62464::RemoveContainer(\([^{]*\))? \[sync\.(RW)?Mutex\.Lock\])";
LEAK_CASE({.name = "Kubernetes62464",
           .kind = Kind::flaky,
           .run = Kubernetes62464,
           .expected = {kReconcile, kRemove},
           .settle = 100ms});

}  // namespace
}  // namespace leakcases
