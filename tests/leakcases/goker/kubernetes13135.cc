// kubernetes13135.cc — GoKer Kubernetes13135 (kubernetes/kubernetes#13135;
// Go: testgoroutineleakprofile/goker/kubernetes13135.go). Flaky.
//
// startCaching (G2, looping in Util) locks the Cacher and relies on the
// watch cache's onReplace callback to unlock it; the callback runs under the
// watch cache's RWMutex. Add (G3) takes the watch cache's RWMutex and then,
// through onEvent, the Cacher's Mutex: the two locks are taken in opposite
// orders (AB-BA), and G2 and G3 block each other.
#include <chrono>
#include <functional>
#include <mutex>

#include "leakcase.h"

namespace leakcases {
namespace {

using namespace std::chrono_literals;
using stray::Chan;
using stray::Unit;

// Go: a package-level variable; the copies shadow it with a local channel
// (using the global one concurrently would create a deadlock the original
// program does not have).
Chan<Unit> StopChannel_kubernetes13135;

void Util_kubernetes13135(std::function<void()> f, stray::duration period, Chan<Unit> stopCh) {
  for (;;) {
    if (stray::select(stray::recv_case(stopCh), stray::default_case([] {})) == 0) return;
    [&] { f(); }();
    stray::sleep(period);
    stray::yield();  // Go preempts this loop (Sleep(0) returns at once); stray is cooperative
  }
}

struct Store_kubernetes13135 {  // Go: an interface
  virtual void Add(void* obj) = 0;
  virtual void Replace(void* obj) = 0;

 protected:
  ~Store_kubernetes13135() = default;
};

struct Reflector_kubernetes13135 {
  Store_kubernetes13135* store = nullptr;

  int ListAndWatch(Chan<Unit> stopCh) {  // returns Go's error: 0 is nil
    syncWith();
    return 0;
  }
  void syncWith() { store->Replace(nullptr); }
};

struct WatchCache_kubernetes13135;

struct Cacher_kubernetes13135 : stray::Mutex {  // Go: embeds sync.Mutex
  stray::WaitGroup initialized;
  stray::Once initOnce;
  WatchCache_kubernetes13135* watchCache = nullptr;
  Reflector_kubernetes13135* reflector = nullptr;

  void processEvent() {
    lock();
    unlock();
  }

  void startCaching(Chan<Unit> stopChannel) {
    lock();
    for (;;) {
      int err = reflector->ListAndWatch(stopChannel);
      if (err == 0) break;
    }
  }
};

struct WatchCache_kubernetes13135 : Store_kubernetes13135,
                                    stray::RWMutex {  // Go: embeds sync.RWMutex
  std::function<void()> onReplace;
  std::function<void()> onEvent;

  void SetOnEvent(std::function<void()> f) {
    std::lock_guard<stray::RWMutex> g(*this);
    onEvent = std::move(f);
  }
  void SetOnReplace(std::function<void()> f) {
    std::lock_guard<stray::RWMutex> g(*this);
    onReplace = std::move(f);
  }
  void processEvent() {
    std::lock_guard<stray::RWMutex> g(*this);
    if (onEvent) onEvent();
  }
  void Add(void* obj) override { processEvent(); }
  void Replace(void* obj) override {
    std::lock_guard<stray::RWMutex> g(*this);
    if (onReplace) onReplace();
  }
};

Cacher_kubernetes13135* NewCacher_kubernetes13135(Chan<Unit> stopCh) {
  auto* watchCache = new WatchCache_kubernetes13135;
  auto* cacher = new Cacher_kubernetes13135;
  cacher->watchCache = watchCache;
  cacher->reflector = new Reflector_kubernetes13135{watchCache};
  cacher->initialized.add(1);
  watchCache->SetOnReplace([cacher] {
    cacher->initOnce.call([cacher] { cacher->initialized.done(); });
    cacher->unlock();
  });
  watchCache->SetOnEvent([cacher] { cacher->processEvent(); });
  stray::go(Util_kubernetes13135,
            std::function<void()>([cacher, stopCh] { cacher->startCaching(stopCh); }),
            stray::duration(0), stopCh);  // G2
  cacher->initialized.wait();
  return cacher;
}

void Kubernetes13135() {
  StopChannel_kubernetes13135 = stray::make_chan<Unit>();
  for (int i = 0; i < 50; i++) {
    stray::go([] {
      Chan<Unit> StopChannel_kubernetes13135 = stray::make_chan<Unit>();  // shadows the global
      Cacher_kubernetes13135* c = NewCacher_kubernetes13135(StopChannel_kubernetes13135);  // G1
      stray::go(&WatchCache_kubernetes13135::Add, c->watchCache, nullptr);                 // G3
      stray::go([StopChannel_kubernetes13135] { StopChannel_kubernetes13135.close(); });
    });
  }
}
// G2 may wait on the watch cache's RWMutex (Go: sync.Mutex.Lock, a writer
// behind a writer; stray: sync.RWMutex.Lock) or on the Cacher's Mutex, G3
// on either as well.
constexpr const char* kUtil = R"(Util_kubernetes13135(\([^{]*\))? \[sync\.(RW)?Mutex\.Lock\])";
constexpr const char* kAdd =
    R"(WatchCache_kubernetes13135::Add(\([^{]*\))? \[sync\.(RW)?Mutex\.Lock\])";
LEAK_CASE({.name = "Kubernetes13135",
           .kind = Kind::flaky,
           .run = Kubernetes13135,
           .expected = {kUtil, kAdd},
           .settle = 100ms});

}  // namespace
}  // namespace leakcases
