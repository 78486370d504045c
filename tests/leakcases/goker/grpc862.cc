// grpc862.go (gRPC #862): DialContext starts a goroutine (G2) that creates
// an address connection whose context derives from the client connection's
// and waits for it to be cancelled. DialContext returns a nil connection,
// so nobody can Close it: G2 waits forever. Its contexts (and the timeout
// context's timer) are reachable only from G2.
#include <chrono>
#include <tuple>
#include <vector>

#include "leakcase.h"

namespace leakcases {
namespace {

using namespace std::chrono_literals;

struct addrConn_grpc862;

struct ClientConn_grpc862 {
  stray::Context ctx;
  stray::CancelFunc cancel;
  std::vector<addrConn_grpc862*> conns;

  void Close();
  void resetAddrConn();
};

struct addrConn_grpc862 {
  ClientConn_grpc862* cc = nullptr;
  stray::Context ctx;
  stray::CancelFunc cancel;

  void resetTransport() {
    for (int retries = 1;; retries++) {
      (void)(2ns * retries);
      auto timeout = 10ns;
      auto [tctx, tcancel] = stray::with_timeout(ctx, timeout);
      (void)tctx;
      (void)stray::Clock::now();
      tcancel();
      (void)ctx.done().recv();
      return;
    }
  }

  void tearDown() { cancel(); }
};

void ClientConn_grpc862::Close() {
  cancel();
  std::vector<addrConn_grpc862*> cs = conns;
  conns.clear();
  for (addrConn_grpc862* ac : cs) ac->tearDown();
}

void ClientConn_grpc862::resetAddrConn() {
  auto* ac = new addrConn_grpc862;
  ac->cc = this;
  conns.push_back(ac);
  std::tie(ac->ctx, ac->cancel) = stray::with_cancel(ctx);
  ac->resetTransport();
}

ClientConn_grpc862* DialContext_grpc862(stray::Context ctx) {
  ClientConn_grpc862* conn = nullptr;
  auto* cc = new ClientConn_grpc862;
  std::tie(cc->ctx, cc->cancel) = stray::with_cancel(stray::background());
  Defer d{[&] {
    stray::select(stray::recv_case(ctx.done(),
                                   [&] {
                                     if (conn != nullptr) conn->Close();
                                     conn = nullptr;
                                   }),
                  stray::default_case([] {}));
  }};
  stray::go([cc] {  // G2
    cc->resetAddrConn();
  });
  return conn;
}

void Grpc862() {
  stray::go([] {
    auto [ctx, cancel] = stray::with_cancel(stray::background());
    stray::go(DialContext_grpc862, ctx);  // G1
    stray::go(cancel);                    // helper goroutine
  });
}

constexpr const char* kG2 =
    R"(DialContext_grpc862\(.*\)::\{lambda[^}]*\}::operator\(\)[^:]* \[chan receive\])";

LEAK_CASE({.name = "Grpc862",
           .kind = Kind::strict,
           .run = Grpc862,
           .expected = {kG2}});

}  // namespace
}  // namespace leakcases
