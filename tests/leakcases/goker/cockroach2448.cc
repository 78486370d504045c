// cockroach2448.go (CockroachDB #2448): the raft state loop (G2) sends an
// event to the store (G1) and, between sends, accepts callbacks from it;
// the store runs each event's callback, which sends that callback back to
// the state loop. If the state loop starts its next send before taking the
// callback, each waits for the other in a select forever.
#include <any>
#include <chrono>
#include <functional>
#include <optional>

#include "leakcase.h"

namespace leakcases {
namespace {

using namespace std::chrono_literals;

struct Stopper_cockroach2448 {
  stray::Chan<bool> Done;
  stray::Chan<bool> ShouldStop() const { return Done; }
};

struct EventMembershipChangeCommitted_cockroach2448 {
  std::function<void()> Callback;
};

struct MultiRaft_cockroach2448 {
  Stopper_cockroach2448* stopper = nullptr;
  stray::Chan<std::any> Events;  // Go: chan interface{}
  stray::Chan<std::function<void()>> callbackChan;

  // sendEvent can be invoked many times.
  void sendEvent(std::any event) {
    stray::select(
        stray::send_case(Events, std::move(event)),  // waiting for the event's consumption
        stray::recv_case(stopper->ShouldStop()));
  }
};

struct state_cockroach2448 {
  MultiRaft_cockroach2448* multiraft;  // Go: an embedded *MultiRaft_cockroach2448

  void start() {
    for (;;) {
      bool stop = false;
      stray::select(stray::recv_case(multiraft->stopper->ShouldStop(), [&] { stop = true; }),
                    stray::recv_case(multiraft->callbackChan,
                                     [](std::optional<std::function<void()>> cb) {
                                       if (cb && *cb) (*cb)();
                                     }),
                    stray::default_case([this] {
                      handleWriteResponse();
                      stray::sleep(100us);
                    }));
      if (stop) return;
    }
  }

  void handleWriteResponse() {
    MultiRaft_cockroach2448* m = multiraft;
    multiraft->sendEvent(new EventMembershipChangeCommitted_cockroach2448{[m] {
      std::function<void()> cb = [] { stray::sleep(1ns); };
      stray::select(
          stray::send_case(m->callbackChan, cb),  // waiting for callbackChan's consumption
          stray::recv_case(m->stopper->ShouldStop()));
    }});
  }
};

struct Store_cockroach2448 {
  MultiRaft_cockroach2448* multiraft;

  void processRaft() {
    for (;;) {
      bool stop = false;
      stray::select(
          stray::recv_case(
              multiraft->Events,
              [](std::optional<std::any> e) {
                if (!e) return;
                if (auto** ev = std::any_cast<EventMembershipChangeCommitted_cockroach2448*>(&*e)) {
                  std::function<void()> callback = (*ev)->Callback;
                  stray::yield();
                  if (callback) callback();  // waiting for callbackChan's consumption
                }
              }),
          stray::recv_case(multiraft->stopper->ShouldStop(), [&] { stop = true; }));
      if (stop) return;
    }
  }
};

void NewStoreAndState_cockroach2448(Store_cockroach2448** s, state_cockroach2448** st) {
  auto* stopper = new Stopper_cockroach2448{stray::make_chan<bool>()};
  auto* mltrft = new MultiRaft_cockroach2448{stopper, stray::make_chan<std::any>(),
                                             stray::make_chan<std::function<void()>>()};
  *st = new state_cockroach2448{mltrft};
  *s = new Store_cockroach2448{mltrft};
}

void Cockroach2448() {
  for (int i = 0; i < 1000; i++) {
    stray::go([] {
      Store_cockroach2448* s;
      state_cockroach2448* st;
      NewStoreAndState_cockroach2448(&s, &st);
      stray::go(&Store_cockroach2448::processRaft, s);  // G1
      stray::go(&state_cockroach2448::start, st);       // G2
    });
  }
}

constexpr const char* kG1 = R"(Store_cockroach2448::processRaft\(\)[^:]* \[select\])";
constexpr const char* kG2 = R"(state_cockroach2448::start\(\)[^:]* \[select\])";

LEAK_CASE({.name = "Cockroach2448",
           .kind = Kind::flaky,
           .run = Cockroach2448,
           .expected = {kG1, kG2},
           .settle = std::chrono::milliseconds(100)});

}  // namespace
}  // namespace leakcases
