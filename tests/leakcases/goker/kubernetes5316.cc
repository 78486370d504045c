// kubernetes5316.cc — GoKer Kubernetes5316 (kubernetes/kubernetes#5316;
// Go: testgoroutineleakprofile/goker/kubernetes5316.go). Strict.
//
// finishRequest runs fn in a goroutine (G2) and waits, in a select, for its
// result on ch, its error on errCh, or a timeout. fn sleeps 2 ms and the
// timeout is 1 µs: the timeout always wins, finishRequest returns, and G2
// blocks forever sending on an unbuffered channel nobody else holds.
#include <chrono>
#include <functional>
#include <optional>
#include <string>

#include "leakcase.h"

namespace leakcases {
namespace {

using namespace std::chrono_literals;

using error = std::optional<std::string>;  // Go's error; nullopt is nil

void finishRequest_kubernetes5316(stray::duration timeout, std::function<error()> fn) {
  auto ch = stray::make_chan<bool>();
  auto errCh = stray::make_chan<std::string>();
  stray::go([ch, errCh, fn] {  // G2
    if (error err = fn()) {
      errCh.send(*err);
    } else {
      ch.send(true);
    }
  });
  stray::select(stray::recv_case(ch), stray::recv_case(errCh),
                stray::recv_case(stray::after(timeout)));
}

void Kubernetes5316() {
  stray::go([] {
    std::function<error()> fn = []() -> error {  // captures nothing: no heap, as in Go
      stray::sleep(2ms);
      if (rand_intn(10) > 5) return "Error";
      return std::nullopt;
    };
    stray::go(finishRequest_kubernetes5316, stray::duration(1us), fn);  // G1
  });
}
LEAK_CASE(
    {.name = "Kubernetes5316",
     .kind = Kind::strict,
     .run = Kubernetes5316,
     .expected =
         {R"(finishRequest_kubernetes5316\([^{]*\)::\{lambda[^}]*\}::operator\(\)[^{]* \[chan send\])"},
     .settle = 100ms});

}  // namespace
}  // namespace leakcases
