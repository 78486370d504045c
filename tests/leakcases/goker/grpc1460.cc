// grpc1460.go (gRPC #1460): keepalive holds t.mu while it waits to be
// woken on awakenKeepalive; NewStream, which would wake it, first needs
// t.mu. Both wait forever.
#include <vector>

#include "leakcase.h"

namespace leakcases {
namespace {

struct Stream_grpc1460 {};

struct http2Client_grpc1460 {
  stray::Mutex mu;
  stray::Chan<stray::Unit> awakenKeepalive;
  std::vector<Stream_grpc1460*> activeStream;

  void keepalive() {
    mu.lock();
    if (activeStream.size() < 1) {
      (void)awakenKeepalive.recv();
      stray::yield();
      mu.unlock();
    } else {
      mu.unlock();
    }
  }

  void NewStream() {
    mu.lock();
    stray::yield();
    activeStream.push_back(new Stream_grpc1460);
    if (activeStream.size() == 1) (void)awakenKeepalive.try_send(stray::Unit{});
    mu.unlock();
  }
};

void Grpc1460() {
  for (int i = 0; i < 1000; i++) {
    stray::go([] {
      auto* client = new http2Client_grpc1460;
      client->awakenKeepalive = stray::make_chan<stray::Unit>();
      stray::go(&http2Client_grpc1460::keepalive, client);  // G1
      stray::go(&http2Client_grpc1460::NewStream, client);  // G2
    });
  }
}

constexpr const char* kG1 = R"(http2Client_grpc1460::keepalive\(\)[^:]* \[chan receive\])";
constexpr const char* kG2 = R"(http2Client_grpc1460::NewStream\(\)[^:]* \[sync\.Mutex\.Lock\])";

LEAK_CASE({.name = "Grpc1460",
           .kind = Kind::flaky,
           .run = Grpc1460,
           .expected = {kG1, kG2},
           .settle = std::chrono::milliseconds(100)});

}  // namespace
}  // namespace leakcases
