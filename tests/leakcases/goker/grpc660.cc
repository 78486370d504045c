// grpc660.go (gRPC #660): the benchmark client's loop starts a goroutine
// per call that sends the result on a fresh unbuffered channel, and
// selects between that channel and stop. Once stop wins, the last call's
// goroutine blocks in its send forever.
#include "leakcase.h"

namespace leakcases {
namespace {

struct benchmarkClient_grpc660 {
  stray::Chan<bool> stop;

  void doCloseLoopUnary() {
    for (;;) {
      auto done = stray::make_chan<bool>();
      stray::go([done] {  // G2
        if (rand_intn(10) > 7) {
          done.send(false);
          return;
        }
        done.send(true);
      });
      if (stray::select(stray::recv_case(stop), stray::recv_case(done)) == 0) return;
    }
  }
};

void Grpc660() {
  stray::go([] {
    auto* bc = new benchmarkClient_grpc660{stray::make_chan<bool>()};
    stray::go(&benchmarkClient_grpc660::doCloseLoopUnary, bc);  // G1
    stray::go([bc] { bc->stop.send(true); });                   // helper goroutine
  });
}

constexpr const char* kG2 = R"(benchmarkClient_grpc660::doCloseLoopUnary\(\))"
                            R"(::\{lambda[^}]*\}::operator\(\)[^:]* \[chan send\])";

LEAK_CASE({.name = "Grpc660", .kind = Kind::strict, .run = Grpc660, .expected = {kG2}});

}  // namespace
}  // namespace leakcases
