// cockroach1055.go (CockroachDB #1055): Stopper.Quiesce holds s.mu while it
// waits on the drain WaitGroup; a worker's StartTask has already added a
// task to it (nobody ever finishes tasks) or blocks on s.mu, so the
// stopping goroutine (G3) waits forever, the workers (G2) never see the
// stopper channel closed, and the parent (G1) never sees done closed.
#include <atomic>
#include <cstdint>
#include <mutex>
#include <vector>

#include "leakcase.h"

namespace leakcases {
namespace {

using stray::Unit;

struct Stopper_cockroach1055 {
  stray::Chan<Unit> stopper = stray::make_chan<Unit>();
  stray::WaitGroup stop;
  stray::Mutex mu;
  std::atomic<std::int32_t> draining{0};
  stray::WaitGroup drain;

  void AddWorker() { stop.add(1); }
  stray::Chan<Unit> ShouldStop() const { return stopper; }
  void SetStopped() { stop.done(); }

  void Quiesce() {
    std::lock_guard<stray::Mutex> l(mu);
    draining.store(1);
    drain.wait();
    draining.store(0);
  }

  void Stop() {
    std::lock_guard<stray::Mutex> l(mu);  // L1
    draining.store(1);
    drain.wait();
    stopper.close();
    stop.wait();
  }

  bool StartTask() {
    if (draining.load() == 0) {
      std::lock_guard<stray::Mutex> l(mu);
      drain.add(1);
      return true;
    }
    return false;
  }
};

Stopper_cockroach1055* NewStopper_cockroach1055() { return new Stopper_cockroach1055; }

void Cockroach1055() {
  for (int i = 0; i <= 1000; i++) {
    stray::go([] {  // G1
      std::vector<Stopper_cockroach1055*> stoppers;
      for (int j = 0; j < 2; j++) stoppers.push_back(NewStopper_cockroach1055());

      for (Stopper_cockroach1055* s : stoppers) {
        s->AddWorker();
        stray::go([s] {  // G2
          s->StartTask();
          (void)s->ShouldStop().recv();
          s->SetStopped();
        });
      }

      auto done = stray::make_chan<Unit>();
      stray::go([stoppers, done] {  // G3
        for (Stopper_cockroach1055* s : stoppers) s->Quiesce();
        for (Stopper_cockroach1055* s : stoppers) s->Stop();
        done.close();
      });

      (void)done.recv();
    });
  }
}

// Go: func2 is G1, func2.1 is G2, func2.2 is G3.
constexpr const char* kG1 =
    R"(Cockroach1055\(\)::\{lambda[^}]*\}::operator\(\)[^:]* \[chan receive\])";
constexpr const char* kG3 = R"(Cockroach1055\(\)::\{lambda[^}]*\}::operator\(\)[^:]*)"
                            R"(::\{lambda[^}]*\}::operator\(\)[^:]* \[sync\.WaitGroup\.Wait\])";
constexpr const char* kG2Recv = R"(Cockroach1055\(\)::\{lambda[^}]*\}::operator\(\)[^:]*)"
                                R"(::\{lambda[^}]*\}::operator\(\)[^:]* \[chan receive\])";
constexpr const char* kG2Lock = R"(Cockroach1055\(\)::\{lambda[^}]*\}::operator\(\)[^:]*)"
                                R"(::\{lambda[^}]*\}::operator\(\)[^:]* \[sync\.Mutex\.Lock\])";

LEAK_CASE({.name = "Cockroach1055",
           .kind = Kind::flaky,
           .run = Cockroach1055,
           .expected = {kG1, kG3, kG2Recv, kG2Lock},
           .settle = std::chrono::milliseconds(100)});

}  // namespace
}  // namespace leakcases
