// moby33781.cc — GoKer Moby33781 (moby/moby#33781; Go:
// testgoroutineleakprofile/goker/moby33781.go). Flaky.
//
// Each health probe runs in a goroutine (G3) that sends its result on an
// unbuffered channel. When the monitor (G1) is told to stop while a probe
// is running, it returns without draining results: G3 blocks sending forever.
#include <chrono>

#include "leakcase.h"

namespace leakcases {
namespace {

using namespace std::chrono_literals;
using stray::Chan;

void monitor_moby33781(Chan<bool> stop) {
  auto probeInterval = 1ms;
  auto probeTimeout = 1ms;
  for (;;) {
    if (stray::select(stray::recv_case(stop), stray::recv_case(stray::after(probeInterval))) == 0)
      return;
    auto results = stray::make_chan<bool>();
    auto [ctx, cancelProbe] = stray::with_timeout(stray::background(), probeTimeout);
    stray::go([results] {  // G3
      results.send(true);
      results.close();
    });
    switch (stray::select(stray::recv_case(stop), stray::recv_case(results),
                          stray::recv_case(ctx.done()))) {
      case 0:
        // results should be drained here
        cancelProbe();
        return;
      case 1:
        cancelProbe();
        break;
      default:
        cancelProbe();
        (void)results.recv();
    }
  }
}

void Moby33781() {
  for (int i = 0; i < 100; i++) {
    stray::go(
        [](int i) {
          auto stop = stray::make_chan<bool>();
          stray::go(monitor_moby33781, stop);  // G1
          stray::go([stop, i] {                // G2
            stray::sleep(i * 1ms);
            stop.send(true);
          });
        },
        i);
  }
}
LEAK_CASE({.name = "Moby33781",
           .kind = Kind::flaky,
           .run = Moby33781,
           .expected =
               {R"(monitor_moby33781\([^{]*\)::\{lambda[^}]*\}::operator\(\)[^{]* \[chan send\])"},
           .settle = 100ms});

}  // namespace
}  // namespace leakcases
