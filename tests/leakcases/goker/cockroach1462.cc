// cockroach1462.go (CockroachDB #1462): the transport's worker loops
// sending events on an unbuffered channel until the stopper says stop; the
// event processor, another worker of the same stopper, may see the stopper
// closed first and return. The transport worker is then stuck in its send
// (it checks the stopper only between sends) and Stopper.Stop waits for it
// forever on the stop WaitGroup.
#include <functional>
#include <mutex>
#include <optional>

#include "leakcase.h"

namespace leakcases {
namespace {

using stray::Unit;

struct Stopper_cockroach1462 {
  stray::Chan<Unit> stopper = stray::make_chan<Unit>();
  stray::Chan<Unit> stopped = stray::make_chan<Unit>();
  stray::WaitGroup stop;
  stray::Mutex mu;
  stray::Cond* drain = nullptr;  // Go: *sync.Cond over &mu
  bool draining = false;
  int numTasks = 0;

  void RunWorker(std::function<void()> f) {
    AddWorker();
    stray::go([this, f] {  // G2, G3
      Defer d{[this] { SetStopped(); }};
      f();
    });
  }

  void AddWorker() { stop.add(1); }

  bool StartTask() {
    std::lock_guard<stray::Mutex> l(mu);
    stray::yield();
    if (draining) return false;
    numTasks++;
    return true;
  }

  void FinishTask() {
    std::lock_guard<stray::Mutex> l(mu);
    stray::yield();
    numTasks--;
    drain->broadcast();
  }

  void SetStopped() { stop.done(); }
  stray::Chan<Unit> ShouldStop() const { return stopper; }

  void Quiesce() {
    std::lock_guard<stray::Mutex> l(mu);
    stray::yield();
    draining = true;
    while (numTasks > 0) drain->wait();  // unlocks mu, waits for the signal, locks mu
  }

  void Stop() {
    Quiesce();
    stopper.close();
    stop.wait();
    std::lock_guard<stray::Mutex> l(mu);
    stray::yield();
    stopped.close();
  }
};

Stopper_cockroach1462* NewStopper_cockroach1462() {
  auto* s = new Stopper_cockroach1462;
  s->drain = new stray::Cond(s->mu);
  return s;
}

using interceptMessage_cockroach1462 = int;

struct Transport_cockroach1462 {
  virtual ~Transport_cockroach1462() = default;
  virtual void Close() = 0;
};

struct localInterceptableTransport_cockroach1462 : Transport_cockroach1462 {
  stray::Mutex mu;
  stray::Chan<interceptMessage_cockroach1462> Events;
  Stopper_cockroach1462* stopper = nullptr;

  void Close() override {}

  void start() {
    stopper->RunWorker([this] {
      for (;;) {
        bool stop = false;
        stray::select(stray::recv_case(stopper->ShouldStop(), [&] { stop = true; }),
                      stray::default_case([&] { Events.send(interceptMessage_cockroach1462(0)); }));
        if (stop) return;
      }
    });
  }
};

Transport_cockroach1462* NewLocalInterceptableTransport_cockroach1462(
    Stopper_cockroach1462* stopper) {
  auto* lt = new localInterceptableTransport_cockroach1462;
  lt->Events = stray::make_chan<interceptMessage_cockroach1462>();
  lt->stopper = stopper;
  lt->start();
  return lt;
}

void processEventsUntil_cockroach1462(stray::Chan<interceptMessage_cockroach1462> ch,
                                      Stopper_cockroach1462* stopper) {
  for (;;) {
    bool done = false;
    stray::select(stray::recv_case(ch,
                                   [&](std::optional<interceptMessage_cockroach1462> v) {
                                     stray::yield();
                                     if (!v) done = true;
                                   }),
                  stray::recv_case(stopper->ShouldStop(), [&] { done = true; }));
    if (done) return;
  }
}

void Cockroach1462() {
  for (int i = 0; i <= 1000; i++) {
    stray::go([] {  // G1
      Stopper_cockroach1462* stopper = NewStopper_cockroach1462();
      auto* transport = static_cast<localInterceptableTransport_cockroach1462*>(
          NewLocalInterceptableTransport_cockroach1462(stopper));
      stopper->RunWorker(
          [transport, stopper] { processEventsUntil_cockroach1462(transport->Events, stopper); });
      stopper->Stop();
    });
  }
}

constexpr const char* kWorker =
    R"(Stopper_cockroach1462::RunWorker\(.*\)::\{lambda[^}]*\}::operator\(\)[^:]* \[chan send\])";
constexpr const char* kG1 =
    R"(Cockroach1462\(\)::\{lambda[^}]*\}::operator\(\)[^:]* \[sync\.WaitGroup\.Wait\])";

LEAK_CASE({.name = "Cockroach1462",
           .kind = Kind::flaky,
           .run = Cockroach1462,
           .expected = {kWorker, kG1},
           .settle = std::chrono::milliseconds(2000)});

}  // namespace
}  // namespace leakcases
