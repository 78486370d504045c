// serving2137.cc — GoKer Serving2137 (knative/serving#2137; Go:
// testgoroutineleakprofile/goker/serving2137.go). Flaky.
//
// A circuit breaker admits requests through two buffered channels used as
// semaphores (pending: capacity 2, active: capacity 1). Each request's
// goroutine (func1) runs a thunk that locks the request's Mutex, which the
// test holds and releases request by request, in order. When the second
// request takes the active slot first, its thunk waits for a Mutex the test
// releases only after the first request is accepted; the first request
// waits for the active slot; the test waits on the first request's accepted
// channel.
#include <chrono>
#include <functional>
#include <vector>

#include "leakcase.h"

namespace leakcases {
namespace {

using namespace std::chrono_literals;
using stray::Chan;

struct token_serving2137 {};

struct request_serving2137 {
  stray::Mutex* lock = nullptr;
  Chan<bool> accepted;
};

struct Breaker_serving2137 {
  Chan<token_serving2137> pendingRequests;
  Chan<token_serving2137> activeRequests;

  bool Maybe(std::function<void()> thunk) {
    token_serving2137 t;
    if (stray::select(stray::default_case([] {}), stray::send_case(pendingRequests, t)) == 0) {
      return false;  // pending request queue is full: report failure
    }
    // Pending request has capacity: wait for capacity in the active queue.
    activeRequests.send(t);
    thunk();  // do the thing
    // Go: deferred, releasing capacity in the active and pending queues.
    (void)activeRequests.recv();
    stray::yield();
    (void)pendingRequests.recv();
    return true;  // report success
  }

  request_serving2137 concurrentRequest() {
    request_serving2137 r{new stray::Mutex, stray::make_chan<bool>(1)};
    r.lock->lock();
    auto* start = new stray::WaitGroup;  // Go: captured by the goroutine, so on the heap
    start->add(1);
    stray::go([this, r, start] {  // G2, G3
      start->done();
      stray::yield();
      stray::Mutex* lock = r.lock;
      bool ok = Maybe([lock] {
        lock->lock();  // blocks on the locked mutex
        stray::yield();
        lock->unlock();
      });
      r.accepted.send(ok);
    });
    start->wait();  // ensure that the goroutine has had a chance to run
    return r;
  }

  // Performs n requests against the breaker; returns them all.
  std::vector<request_serving2137> concurrentRequests(int n) {
    std::vector<request_serving2137> requests(static_cast<std::size_t>(n));
    for (request_serving2137& r : requests) r = concurrentRequest();
    return requests;
  }
};

Breaker_serving2137* NewBreaker_serving2137(int queueDepth, int maxConcurrency) {
  return new Breaker_serving2137{
      stray::make_chan<token_serving2137>(static_cast<std::size_t>(queueDepth + maxConcurrency)),
      stray::make_chan<token_serving2137>(static_cast<std::size_t>(maxConcurrency))};
}

void unlock_serving2137(request_serving2137 req) {
  req.lock->unlock();
  stray::yield();
  bool ok = *req.accepted.recv();  // verify that the function has completed
  stray::yield();
  req.accepted.send(ok);  // requeue for next usage
}

void unlockAll_serving2137(const std::vector<request_serving2137>& requests) {
  for (const request_serving2137& lc : requests) unlock_serving2137(lc);
}

void Serving2137() {
  for (int i = 0; i < 1000; i++) {
    stray::go([] {
      Breaker_serving2137* b = NewBreaker_serving2137(1, 1);
      std::vector<request_serving2137> locks = b->concurrentRequests(2);  // G1
      unlockAll_serving2137(locks);
    });
  }
}
constexpr const char* kFunc1Send =
    R"(Breaker_serving2137::concurrentRequest\([^{]*\)::\{lambda[^}]*\}::operator\(\)[^{]* \[chan send\])";
constexpr const char* kFunc1Lock =
    R"(Breaker_serving2137::concurrentRequest\([^{]*\)::\{lambda[^}]*\}::operator\(\)[^{]* \[sync\.Mutex\.Lock\])";
constexpr const char* kFunc2 =
    R"(Serving2137\([^{]*\)::\{lambda[^}]*\}::operator\(\)[^{]* \[chan receive\])";
LEAK_CASE({.name = "Serving2137",
           .kind = Kind::flaky,
           .run = Serving2137,
           .expected = {kFunc1Send, kFunc1Lock, kFunc2},
           .settle = 100ms});

}  // namespace
}  // namespace leakcases
