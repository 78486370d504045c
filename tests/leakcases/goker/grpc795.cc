// grpc795.go (gRPC #795): GracefulStop locks s.mu and, when the server is
// already draining, locks it again instead of unlocking (and returns): the
// second call deadlocks on itself, and Serve waits for the mutex forever.
#include "leakcase.h"

namespace leakcases {
namespace {

struct Server_grpc795 {
  stray::Mutex mu;
  bool drain = false;

  void GracefulStop() {
    mu.lock();
    if (drain) {
      mu.lock();
      return;
    }
    drain = true;
    mu.unlock();
  }

  void Serve() {
    mu.lock();
    mu.unlock();
  }
};

Server_grpc795* NewServer_grpc795() { return new Server_grpc795; }

struct test_grpc795 {
  Server_grpc795* srv = nullptr;

  void startServer() {
    Server_grpc795* s = NewServer_grpc795();
    srv = s;
    stray::go(&Server_grpc795::Serve, s);
  }
};

test_grpc795* newTest_grpc795() { return new test_grpc795; }

void testServerGracefulStopIdempotent_grpc795() {
  test_grpc795* te = newTest_grpc795();
  te->startServer();
  for (int i = 0; i < 3; i++) te->srv->GracefulStop();
}

void Grpc795() {
  for (int i = 0; i < 100; i++) stray::go(testServerGracefulStopIdempotent_grpc795);
}

constexpr const char* kServe = R"(Server_grpc795::Serve\(\)[^:]* \[sync\.Mutex\.Lock\])";
constexpr const char* kTest =
    R"(testServerGracefulStopIdempotent_grpc795\(\)[^:]* \[sync\.Mutex\.Lock\])";

LEAK_CASE({.name = "Grpc795",
           .kind = Kind::flaky,
           .run = Grpc795,
           .expected = {kServe, kTest},
           .settle = std::chrono::milliseconds(100)});

}  // namespace
}  // namespace leakcases
