// kubernetes70277.cc — GoKer Kubernetes70277 (kubernetes/kubernetes#70277;
// Go: testgoroutineleakprofile/goker/kubernetes70277.go). Flaky. (Not in
// the catalogue's table; Go's goroutineleakprofile_test.go lists it.)
//
// WaitFor hands its done channel to the wait function, which the caller's
// closure also saves in doneCh; the caller then waits on doneCh — its own
// stopCh, closed only when the caller returns. Once the poller goroutine
// has timed out (80 ms), the caller holds the only reference.
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <utility>

#include "leakcase.h"

namespace leakcases {
namespace {

using namespace std::chrono_literals;
using stray::Chan;
using stray::Unit;

using WaitFunc_kubernetes70277 = std::function<Chan<Unit>(Chan<Unit> done)>;
using error = std::optional<std::string>;  // Go's error; nullopt is nil
using ConditionFunc_kubernetes70277 = std::function<std::pair<bool, error>()>;

error WaitFor_kubernetes70277(WaitFunc_kubernetes70277 wait, ConditionFunc_kubernetes70277 fn,
                              Chan<Unit> done) {
  Chan<Unit> c = wait(done);
  for (;;) {
    bool open = c.recv().has_value();
    auto [ok, err] = fn();
    if (err) return err;
    if (ok) return std::nullopt;
    if (!open) break;
  }
  return std::nullopt;
}

WaitFunc_kubernetes70277 poller_kubernetes70277(stray::duration interval, stray::duration timeout) {
  return [interval, timeout](Chan<Unit> done) {
    auto ch = stray::make_chan<Unit>();
    stray::go([ch, done, interval, timeout] {
      stray::Ticker tick(interval);
      Chan<stray::time_point> after;  // nil: never ready
      std::optional<stray::Timer> timer;
      if (timeout != stray::duration(0)) {
        timer.emplace(timeout);
        after = timer->c();
      }
      for (;;) {
        int i = stray::select(stray::recv_case(tick.c()), stray::recv_case(after),
                              stray::recv_case(done));
        if (i != 0) break;
        (void)ch.try_send(Unit{});
      }
      // Go: deferred timer.Stop(), tick.Stop() (the destructors), close(ch).
      timer.reset();
      tick.stop();
      ch.close();
    });
    return ch;
  };
}

void Kubernetes70277() {
  for (int i = 0; i < 1000; i++) {
    stray::go([] {
      auto stopCh = stray::make_chan<Unit>();
      struct CloseOnReturn {  // Go: defer close(stopCh)
        Chan<Unit> c;
        ~CloseOnReturn() { c.close(); }
      } close_stop{stopCh};
      WaitFunc_kubernetes70277 waitFunc = poller_kubernetes70277(1ms, 80ms);
      Chan<Unit> doneCh;
      (void)WaitFor_kubernetes70277(
          [&doneCh, &waitFunc](Chan<Unit> done) {
            doneCh = done;
            return waitFunc(done);
          },
          [] {
            stray::sleep(10ms);
            return std::pair<bool, error>(true, std::nullopt);
          },
          stopCh);
      (void)doneCh.recv();  // blocks here
    });
  }
}
LEAK_CASE({.name = "Kubernetes70277",
           .kind = Kind::flaky,
           .run = Kubernetes70277,
           .expected =
               {R"(Kubernetes70277\([^{]*\)::\{lambda[^}]*\}::operator\(\)[^{]* \[chan receive\])"},
           .settle = 100ms});

}  // namespace
}  // namespace leakcases
