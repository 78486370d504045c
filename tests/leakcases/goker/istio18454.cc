// istio18454.go (Istio #18454): the strategy's event loop, on a reset,
// stops its timer and, when the timer had already fired (its value already
// taken), waits on the timer's channel for a value that never comes. The
// processor's loop then fills the reset channel (capacity 1) and blocks
// sending to it, never seeing its context cancelled, so it never closes
// the strategy either.
#include <chrono>
#include <functional>
#include <optional>
#include <tuple>

#include "leakcase.h"

namespace leakcases {
namespace {

using namespace std::chrono_literals;
using stray::Unit;

constexpr int eventChCap_istio18454 = 1024;

struct Worker_istio18454 {
  stray::Context ctx;
  stray::CancelFunc ctxCancel;

  void Start(std::function<void()> setupFn, std::function<void(stray::Context)> runFn) {
    if (setupFn) setupFn();
    stray::go([this, runFn] { runFn(ctx); });
  }

  void Stop() { ctxCancel(); }
};

struct Strategy_istio18454 {
  stray::Timer* timer = nullptr;  // Go: *time.Timer
  stray::duration timerFrequency{};
  stray::Mutex stateLock;
  stray::Chan<Unit> resetChan;
  Worker_istio18454* worker = nullptr;
  std::function<void()> startTimerFn;

  void OnChange() {
    stateLock.lock();
    if (timer != nullptr) {
      stateLock.unlock();
      resetChan.send(Unit{});
      return;
    }
    startTimerFn();
    stateLock.unlock();
  }

  void startTimer() {
    timer = new stray::Timer(timerFrequency);
    auto eventLoop = [this](stray::Context ctx) {
      for (;;) {
        bool done = false;
        stray::select(stray::recv_case(timer->c()),
                      stray::recv_case(resetChan,
                                       [this] {
                                         if (!timer->stop()) (void)timer->c().recv();
                                         timer->reset(timerFrequency);
                                       }),
                      stray::recv_case(ctx.done(), [&] {
                        timer->stop();
                        done = true;
                      }));
        if (done) return;
      }
    };
    worker->Start(nullptr, eventLoop);
  }

  void Close() { worker->Stop(); }
};

using Event_istio18454 = int;

struct Processor_istio18454 {
  Strategy_istio18454* stateStrategy = nullptr;
  Worker_istio18454* worker = nullptr;
  stray::Chan<Event_istio18454> eventCh;

  void processEvent() { stateStrategy->OnChange(); }

  void Start() {
    auto setupFn = [this] {
      for (int i = 0; i < eventChCap_istio18454; i++) eventCh.send(Event_istio18454(0));
    };
    auto runFn = [this](stray::Context ctx) {
      Defer d{[this] { stateStrategy->Close(); }};
      for (;;) {
        if (stray::select(stray::recv_case(ctx.done()),
                          stray::recv_case(eventCh, [this] { processEvent(); })) == 0)
          return;
      }
    };
    worker->Start(setupFn, runFn);
  }

  void Stop() { worker->Stop(); }
};

Worker_istio18454* NewWorker_istio18454() {
  auto* worker = new Worker_istio18454;
  std::tie(worker->ctx, worker->ctxCancel) = stray::with_cancel(stray::background());
  return worker;
}

void Istio18454() {
  for (int i = 0; i < 100; i++) {
    stray::go([] {
      auto* stateStrategy = new Strategy_istio18454;
      stateStrategy->timerFrequency = 1ns;
      stateStrategy->resetChan = stray::make_chan<Unit>(1);
      stateStrategy->worker = NewWorker_istio18454();
      stateStrategy->startTimerFn = [stateStrategy] { stateStrategy->startTimer(); };
      auto* p = new Processor_istio18454;
      p->stateStrategy = stateStrategy;
      p->worker = NewWorker_istio18454();
      p->eventCh = stray::make_chan<Event_istio18454>(eventChCap_istio18454);
      p->Start();
      Defer d{[p] { p->Stop(); }};
    });
  }
}

constexpr const char* kRecv =
    R"(Worker_istio18454::Start\(.*\)::\{lambda[^}]*\}::operator\(\)[^:]* \[chan receive\])";
constexpr const char* kSend =
    R"(Worker_istio18454::Start\(.*\)::\{lambda[^}]*\}::operator\(\)[^:]* \[chan send\])";

LEAK_CASE({.name = "Istio18454",
           .kind = Kind::flaky,
           .run = Istio18454,
           .expected = {kRecv, kSend},
           .settle = std::chrono::milliseconds(100)});

}  // namespace
}  // namespace leakcases
