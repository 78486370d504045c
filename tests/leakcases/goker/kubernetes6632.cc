// kubernetes6632.cc — GoKer Kubernetes6632 (kubernetes/kubernetes#6632;
// Go: testgoroutineleakprofile/goker/kubernetes6632.go). Flaky.
//
// WriteFrame (G2) holds writeLock while it sends on resetChan; monitor (G1),
// the only receiver, never receives: once the connection closes it takes
// writeLock to close resetChan. When G2 sends first, G1 blocks on the lock
// and G2 on the send.
#include <chrono>
#include <mutex>

#include "leakcase.h"

namespace leakcases {
namespace {

using namespace std::chrono_literals;

struct Connection_kubernetes6632 {
  stray::Chan<bool> closeChan;
};

struct idleAwareFramer_kubernetes6632 {
  stray::Chan<bool> resetChan;
  stray::Mutex writeLock;
  Connection_kubernetes6632* conn = nullptr;

  void monitor() {
    stray::Chan<bool> resetChan = this->resetChan;
    for (;;) {
      (void)conn->closeChan.recv();  // Go: a one-case select
      writeLock.lock();
      resetChan.close();
      this->resetChan = {};
      writeLock.unlock();
      break;
    }
  }

  void WriteFrame() {
    std::lock_guard<stray::Mutex> g(writeLock);
    if (!resetChan) return;
    resetChan.send(true);
  }
};

idleAwareFramer_kubernetes6632* NewIdleAwareFramer_kubernetes6632() {
  auto* i = new idleAwareFramer_kubernetes6632;
  i->resetChan = stray::make_chan<bool>();
  i->conn = new Connection_kubernetes6632{stray::make_chan<bool>()};
  return i;
}

void Kubernetes6632() {
  for (int k = 0; k < 100; k++) {
    stray::go([] {
      idleAwareFramer_kubernetes6632* i = NewIdleAwareFramer_kubernetes6632();
      stray::go([i] { i->conn->closeChan.send(true); });          // helper goroutine
      stray::go(&idleAwareFramer_kubernetes6632::monitor, i);     // G1
      stray::go(&idleAwareFramer_kubernetes6632::WriteFrame, i);  // G2
    });
  }
}
constexpr const char* kMonitor =
    R"(idleAwareFramer_kubernetes6632::monitor(\([^{]*\))? \[sync\.Mutex\.Lock\])";
constexpr const char* kWriteFrame =
    R"(idleAwareFramer_kubernetes6632::WriteFrame(\([^{]*\))? \[chan send\])";
LEAK_CASE({.name = "Kubernetes6632",
           .kind = Kind::flaky,
           .run = Kubernetes6632,
           .expected = {kMonitor, kWriteFrame},
           .settle = 100ms});

}  // namespace
}  // namespace leakcases
