// istio17860.go (Istio #17860): each Restart starts a goroutine that
// reports its epoch's exit on the unbuffered statusCh; the agent's Run
// loop, the only receiver, returns when the context is cancelled, and the
// later reporters block in their send forever.
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>

#include "leakcase.h"

namespace leakcases {
namespace {

using namespace std::chrono_literals;

struct Proxy_istio17860 {
  virtual ~Proxy_istio17860() = default;
  virtual bool IsLive() const = 0;
};

struct TestProxy_istio17860 : Proxy_istio17860 {
  std::function<bool()> live;
  explicit TestProxy_istio17860(std::function<bool()> l) : live(std::move(l)) {}
  bool IsLive() const override { return live ? live() : true; }
};

struct Agent_istio17860 {
  virtual ~Agent_istio17860() = default;
  virtual void Run(stray::Context ctx) = 0;
  virtual void Restart() = 0;
};

using exitStatus_istio17860 = int;

struct agent_istio17860 : Agent_istio17860 {
  Proxy_istio17860* proxy = nullptr;
  stray::Mutex* mu = nullptr;
  stray::Chan<exitStatus_istio17860> statusCh;
  int currentEpoch = 0;
  std::map<int, stray::Unit> activeEpochs;

  void Run(stray::Context ctx) override {
    for (;;) {
      bool done = false;
      stray::select(stray::recv_case(statusCh,
                                     [&](std::optional<exitStatus_istio17860> status) {
                                       mu->lock();
                                       activeEpochs.erase(status.value_or(0));
                                       std::size_t active = activeEpochs.size();
                                       mu->unlock();
                                       if (active == 0) done = true;
                                     }),
                    stray::recv_case(ctx.done(), [&] { done = true; }));
      if (done) return;
    }
  }

  void Restart() override {
    std::lock_guard<stray::Mutex> l(*mu);
    waitUntilLive();
    currentEpoch++;
    activeEpochs[currentEpoch] = stray::Unit{};
    stray::go(&agent_istio17860::runWait, this, currentEpoch);
  }

  void runWait(int epoch) { statusCh.send(exitStatus_istio17860(epoch)); }

  void waitUntilLive() {
    if (activeEpochs.empty()) return;
    // Go: time.NewTicker / time.NewTimer return heap objects.
    auto interval = std::make_unique<stray::Ticker>(30ns);
    auto timer = std::make_unique<stray::Timer>(100ns);
    Defer d{[&] {
      interval->stop();
      timer->stop();
    }};
    if (proxy->IsLive()) return;
    for (;;) {
      bool done = false;
      stray::select(stray::recv_case(timer->c(), [&] { done = true; }),
                    stray::recv_case(interval->c(), [&] { done = proxy->IsLive(); }));
      if (done) return;
    }
  }
};

Agent_istio17860* NewAgent_istio17860(Proxy_istio17860* proxy) {
  auto* a = new agent_istio17860;
  a->proxy = proxy;
  a->mu = new stray::Mutex;
  a->statusCh = stray::make_chan<exitStatus_istio17860>();
  return a;
}

void Istio17860() {
  for (int i = 0; i < 100; i++) {
    stray::go([] {
      auto cancellable = stray::with_cancel(stray::background());
      auto& ctx = cancellable.first;
      auto& cancel = cancellable.second;
      Defer d{[&cancel] { cancel(); }};
      auto neverLive = [] { return false; };
      Agent_istio17860* a = NewAgent_istio17860(new TestProxy_istio17860(neverLive));
      stray::go([a, ctx] { a->Run(ctx); });
      a->Restart();
      stray::go(&Agent_istio17860::Restart, a);
      stray::sleep(200ns);
    });
  }
}

constexpr const char* kRunWait = R"(agent_istio17860::runWait\([^)]*\)[^:]* \[chan send\])";

LEAK_CASE({.name = "Istio17860",
           .kind = Kind::flaky,
           .run = Istio17860,
           .expected = {kRunWait},
           .settle = std::chrono::milliseconds(100)});

}  // namespace
}  // namespace leakcases
