// istio16224.go (Istio #16224): the event handler holds a mutex while it
// sends on an unbuffered done channel; the test goroutine takes that mutex
// before it receives from done, so the two wait for each other. In the
// other interleaving the test closes stop, and the monitor's Run loop
// blocks receiving one more event that never comes.
#include <functional>
#include <optional>
#include <utility>
#include <vector>

#include "leakcase.h"

namespace leakcases {
namespace {

using stray::Unit;

using Event_istio16224 = int;
using Handler_istio16224 = std::function<void(Event_istio16224)>;

struct Monitor_istio16224 {
  virtual ~Monitor_istio16224() = default;
  virtual void Run(stray::Chan<Unit> stop) = 0;
  virtual void AppendEventHandler(Handler_istio16224 h) = 0;
  virtual void ScheduleProcessEvent(Event_istio16224 e) = 0;
};

struct configstoreMonitor_istio16224 : Monitor_istio16224 {
  std::vector<Handler_istio16224> handlers;
  stray::Chan<Event_istio16224> eventCh;

  void Run(stray::Chan<Unit> stop) override {
    for (;;) {
      bool done = false;
      stray::select(stray::recv_case(stop,
                                     [&] {
                                       // This bug is not described, but is a true positive (Go's
                                       // comment): in a real run main exits while Run blocks here.
                                       if (eventCh.recv()) eventCh.close();
                                       done = true;
                                     }),
                    stray::recv_case(eventCh, [this](std::optional<Event_istio16224> ce) {
                      if (ce) processConfigEvent(*ce);
                    }));
      if (done) return;
    }
  }

  void processConfigEvent(Event_istio16224 ce) { applyHandlers(ce); }
  void AppendEventHandler(Handler_istio16224 h) override { handlers.push_back(std::move(h)); }
  void applyHandlers(Event_istio16224 e) {
    for (Handler_istio16224& f : handlers) f(e);
  }
  void ScheduleProcessEvent(Event_istio16224 configEvent) override { eventCh.send(configEvent); }
};

struct controller_istio16224 {
  Monitor_istio16224* monitor;

  void RegisterEventHandler(Handler_istio16224 f) { monitor->AppendEventHandler(std::move(f)); }
  void Run(stray::Chan<Unit> stop) { monitor->Run(stop); }
  void Create() { monitor->ScheduleProcessEvent(Event_istio16224(0)); }
};

Monitor_istio16224* NewBufferedMonitor_istio16224() {
  auto* m = new configstoreMonitor_istio16224;
  m->eventCh = stray::make_chan<Event_istio16224>();
  return m;
}

Monitor_istio16224* NewMonitor_istio16224() { return NewBufferedMonitor_istio16224(); }

void Istio16224() {
  for (int i = 0; i < 100; i++) {
    stray::go([] {
      auto* controller = new controller_istio16224{NewMonitor_istio16224()};
      auto done = stray::make_chan<bool>();
      auto* lock = new stray::Mutex;  // Go: captured by the handler, which escapes
      controller->RegisterEventHandler([lock, done](Event_istio16224) {
        lock->lock();
        Defer d{[lock] { lock->unlock(); }};
        done.send(true);
      });
      auto stop = stray::make_chan<Unit>();
      stray::go(&controller_istio16224::Run, controller, stop);
      controller->Create();
      lock->lock();  // blocks
      lock->unlock();
      (void)done.recv();
      stop.close();
    });
  }
}

constexpr const char* kMain =
    R"(Istio16224\(\)::\{lambda[^}]*\}::operator\(\)[^:]* \[sync\.Mutex\.Lock\])";
constexpr const char* kRunSend = R"(controller_istio16224::Run\([^)]*\)[^:]* \[chan send\])";
constexpr const char* kRunRecv = R"(controller_istio16224::Run\([^)]*\)[^:]* \[chan receive\])";

LEAK_CASE({.name = "Istio16224",
           .kind = Kind::flaky,
           .run = Istio16224,
           .expected = {kMain, kRunSend, kRunRecv},
           .settle = std::chrono::milliseconds(100)});

}  // namespace
}  // namespace leakcases
