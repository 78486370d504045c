// kubernetes30872.cc — GoKer Kubernetes30872 (kubernetes/kubernetes#30872;
// Go: testgoroutineleakprofile/goker/kubernetes30872.go). Flaky.
//
// Two locks taken in opposite orders: the controller's processing loop (G2)
// holds the DeltaFIFO's lock (L2, an RWMutex) while its handler takes the
// federated informer's lock (L1); the handler goroutine (G4) holds L1 in
// ClustersSynced while it takes L2 in HasSynced. The goroutine waiting to
// stop the informer (G3) then blocks on L1 too.
#include <chrono>
#include <functional>
#include <mutex>

#include "leakcase.h"

namespace leakcases {
namespace {

using namespace std::chrono_literals;
using stray::Chan;
using stray::Unit;

using PopProcessFunc_kubernetes30872 = std::function<void()>;
using ProcessFunc_kubernetes30872 = std::function<void()>;

void JitterUntil_kubernetes30872(std::function<void()> f, Chan<Unit> stopCh) {
  for (;;) {
    if (stray::select(stray::recv_case(stopCh), stray::default_case([] {})) == 0) return;
    [&] { f(); }();
    stray::yield();  // Go preempts this loop; stray's goroutines are cooperative
  }
}

void Util_kubernetes30872(std::function<void()> f, Chan<Unit> stopCh) {
  JitterUntil_kubernetes30872(f, stopCh);
}

// Go's interfaces are abstract classes (no virtual destructors: never
// deleted through them).
struct Queue_kubernetes30872 {
  virtual void HasSynced() = 0;
  virtual void Pop(PopProcessFunc_kubernetes30872) = 0;

 protected:
  ~Queue_kubernetes30872() = default;
};

struct Config_kubernetes30872 {
  Queue_kubernetes30872* Queue = nullptr;
  ProcessFunc_kubernetes30872 Process;
};

struct ControllerInterface_kubernetes30872 {
  virtual void Run(Chan<Unit>) = 0;
  virtual void HasSynced() = 0;

 protected:
  ~ControllerInterface_kubernetes30872() = default;
};

struct Controller_kubernetes30872 final : ControllerInterface_kubernetes30872 {
  Config_kubernetes30872 config;

  explicit Controller_kubernetes30872(Config_kubernetes30872 c) : config(std::move(c)) {}
  void Run(Chan<Unit> stopCh) override {
    Util_kubernetes30872([this] { processLoop(); }, stopCh);
  }
  void HasSynced() override { config.Queue->HasSynced(); }
  void processLoop() { config.Queue->Pop(config.Process); }
};

struct ResourceEventHandler_kubernetes30872 {
  virtual void OnAdd() const = 0;

 protected:
  ~ResourceEventHandler_kubernetes30872() = default;
};

struct ResourceEventHandlerFuncs_kubernetes30872 final : ResourceEventHandler_kubernetes30872 {
  std::function<void()> AddFunc;

  explicit ResourceEventHandlerFuncs_kubernetes30872(std::function<void()> f)
      : AddFunc(std::move(f)) {}
  void OnAdd() const override {
    if (AddFunc) AddFunc();
  }
};

struct informer_kubernetes30872 {
  ControllerInterface_kubernetes30872* controller = nullptr;
  Chan<Unit> stopChan;
};

struct FederationView_kubernetes30872 {
  virtual void ClustersSynced() = 0;

 protected:
  ~FederationView_kubernetes30872() = default;
};

struct FederatedInformer_kubernetes30872 : FederationView_kubernetes30872 {
  virtual void Start() = 0;
  virtual void Stop() = 0;

 protected:
  ~FederatedInformer_kubernetes30872() = default;
};

struct federatedInformerImpl_kubernetes30872 final : FederatedInformer_kubernetes30872,
                                                     stray::Mutex {  // Go: embeds sync.Mutex (L1)
  informer_kubernetes30872 clusterInformer;

  void ClustersSynced() override {
    std::lock_guard<stray::Mutex> g(*this);  // L1
    clusterInformer.controller->HasSynced();
  }
  void addCluster() { std::lock_guard<stray::Mutex> g(*this); }  // L1
  void Start() override {
    std::lock_guard<stray::Mutex> g(*this);  // L1
    clusterInformer.stopChan = stray::make_chan<Unit>();
    stray::go(&ControllerInterface_kubernetes30872::Run, clusterInformer.controller,
              clusterInformer.stopChan);  // G2
    stray::yield();
  }
  void Stop() override {
    std::lock_guard<stray::Mutex> g(*this);  // L1
    clusterInformer.stopChan.close();
  }
};

struct DelayingDeliverer_kubernetes30872 {
  void StartWithHandler(std::function<void()> handler) {
    stray::go([handler] { handler(); });  // G4
  }
};

struct NamespaceController_kubernetes30872 {
  DelayingDeliverer_kubernetes30872* namespaceDeliverer = nullptr;
  FederatedInformer_kubernetes30872* namespaceFederatedInformer = nullptr;

  void isSynced() { namespaceFederatedInformer->ClustersSynced(); }
  void reconcileNamespace() { isSynced(); }
  void Run(Chan<Unit> stopChan) {
    namespaceFederatedInformer->Start();
    stray::go([this, stopChan] {  // G3
      (void)stopChan.recv();
      namespaceFederatedInformer->Stop();
    });
    namespaceDeliverer->StartWithHandler([this] { reconcileNamespace(); });
  }
};

struct DeltaFIFO_kubernetes30872 final : Queue_kubernetes30872 {
  stray::RWMutex lock;  // L2

  void HasSynced() override { std::lock_guard<stray::RWMutex> g(lock); }
  void Pop(PopProcessFunc_kubernetes30872 process) override {
    std::lock_guard<stray::RWMutex> g(lock);
    process();
  }
};

Controller_kubernetes30872* NewInformer_kubernetes30872(
    ResourceEventHandlerFuncs_kubernetes30872 h) {
  auto* fifo = new DeltaFIFO_kubernetes30872;
  Config_kubernetes30872 cfg{fifo, [h] { h.OnAdd(); }};
  return new Controller_kubernetes30872(cfg);
}

FederatedInformer_kubernetes30872* NewFederatedInformer_kubernetes30872() {
  auto* federatedInformer = new federatedInformerImpl_kubernetes30872;
  federatedInformer->clusterInformer.controller =
      NewInformer_kubernetes30872(ResourceEventHandlerFuncs_kubernetes30872(
          [federatedInformer] { federatedInformer->addCluster(); }));
  return federatedInformer;
}

NamespaceController_kubernetes30872* NewNamespaceController_kubernetes30872() {
  auto* nc = new NamespaceController_kubernetes30872;
  nc->namespaceDeliverer = new DelayingDeliverer_kubernetes30872;
  nc->namespaceFederatedInformer = NewFederatedInformer_kubernetes30872();
  return nc;
}

void Kubernetes30872() {
  for (int i = 0; i < 100; i++) {
    stray::go([] {  // G1
      NamespaceController_kubernetes30872* namespaceController =
          NewNamespaceController_kubernetes30872();
      auto stop = stray::make_chan<Unit>();
      namespaceController->Run(stop);
      stop.close();
    });
  }
}
// G4 waits on L1 (a Mutex) or L2 (an RWMutex writer behind a writer: Go
// sync.Mutex.Lock, stray sync.RWMutex.Lock); so may G2, for a moment.
constexpr const char* kG4 =
    R"(DelayingDeliverer_kubernetes30872::StartWithHandler\([^{]*\)::\{lambda[^}]*\}::operator\(\)[^{]* \[sync\.(RW)?Mutex\.Lock\])";
constexpr const char* kG2 =
    R"(::Controller_kubernetes30872::Run(\([^{]*\))? \[sync\.(RW)?Mutex\.Lock\])";
constexpr const char* kG3 =
    R"(NamespaceController_kubernetes30872::Run\([^{]*\)::\{lambda[^}]*\}::operator\(\)[^{]* \[sync\.Mutex\.Lock\])";
LEAK_CASE({.name = "Kubernetes30872",
           .kind = Kind::flaky,
           .run = Kubernetes30872,
           .expected = {kG4, kG2, kG3},
           .settle = 100ms});

}  // namespace
}  // namespace leakcases
