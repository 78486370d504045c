// grpc1424.cc — GoKer Grpc1424 (grpc/grpc-go#1424; Go:
// testgoroutineleakprofile/goker/grpc1424.go). Strict.
//
// DialContext (G1) starts a goroutine (func1, G2) that starts the balancer
// watcher lbWatcher (G3) and waits for it on doneChan; G1 then closes the
// balancer's address channel, so lbWatcher's range ends and it returns
// without ever signalling doneChan. G2 waits forever.
#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "leakcase.h"

namespace leakcases {
namespace {

using stray::Chan;

using error_grpc1424 = std::optional<std::string>;  // Go's error; nullopt is nil

struct Balancer_grpc1424 {  // Go: an interface
  // Go returns a receive-only <-chan bool; stray has no directional channels.
  virtual Chan<bool> Notify() = 0;

 protected:
  ~Balancer_grpc1424() = default;
};

struct roundRobin_grpc1424 final : Balancer_grpc1424 {
  stray::Mutex mu;
  Chan<bool> addrCh;

  explicit roundRobin_grpc1424(Chan<bool> c) : addrCh(std::move(c)) {}
  Chan<bool> Notify() override { return addrCh; }
};

struct addrConn_grpc1424 {
  stray::Mutex mu;

  void tearDown() {
    mu.lock();
    Defer d{[this] { mu.unlock(); }};
  }
};

struct dialOption_grpc1424 {
  Balancer_grpc1424* balancer = nullptr;
};

struct ClientConn_grpc1424 {
  dialOption_grpc1424 dopts;
  std::vector<addrConn_grpc1424*> conns{};

  void lbWatcher(Chan<bool> doneChan) {
    for (bool addr : dopts.balancer->Notify()) {
      if (addr) {
        // nop, make compiler happy
      }
      std::vector<addrConn_grpc1424*> del;
      for (addrConn_grpc1424* a : conns) del.push_back(a);
      for (addrConn_grpc1424* c : del) c->tearDown();
    }
  }
};

ClientConn_grpc1424* NewClientConn_grpc1424() {
  return new ClientConn_grpc1424{
      .dopts = dialOption_grpc1424{new roundRobin_grpc1424(stray::make_chan<bool>())},
  };
}

void DialContext_grpc1424() {
  ClientConn_grpc1424* cc = NewClientConn_grpc1424();
  auto waitC = stray::make_chan<error_grpc1424>(1);
  stray::go([cc, waitC] {  // G2
    Defer d{[&waitC] { waitC.close(); }};  // Go: defer close(waitC)
    Chan<bool> ch = cc->dopts.balancer->Notify();
    if (ch) {
      auto doneChan = stray::make_chan<bool>();
      stray::go(&ClientConn_grpc1424::lbWatcher, cc, doneChan);  // G3
      (void)doneChan.recv();
    }
  });
  // close addrCh (Go: a type assertion to *roundRobin_grpc1424)
  static_cast<roundRobin_grpc1424*>(cc->dopts.balancer)->addrCh.close();
}

void Grpc1424() { stray::go(DialContext_grpc1424); }  // G1

constexpr const char* kG2 =
    R"(DialContext_grpc1424\(\)::\{lambda[^}]*\}::operator\(\)[^:]* \[chan receive\])";

LEAK_CASE({.name = "Grpc1424",
           .kind = Kind::strict,
           .run = Grpc1424,
           .expected = {kG2},
           .settle = std::chrono::milliseconds(100)});

}  // namespace
}  // namespace leakcases
