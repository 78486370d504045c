// moby7559.cc — GoKer Moby7559 (moby/moby#7559; Go:
// testgoroutineleakprofile/goker/moby7559.go). Strict.
//
// Run locks connTrackLock at the top of each iteration and, when dialing
// fails, continues without unlocking: the next iteration blocks on the lock
// it holds itself.
#include <chrono>
#include <optional>
#include <string>

#include "leakcase.h"

namespace leakcases {
namespace {

using namespace std::chrono_literals;

struct UDPAddr_moby7559 {
  std::string ip;
  int port = 0;
};

// Go: net.DialUDP("udp", nil, nil), which fails: a nil remote address is
// "missing address". Returns Go's error (nullopt: nil).
std::optional<std::string> DialUDP_moby7559(const std::string& network,
                                            const UDPAddr_moby7559* laddr,
                                            const UDPAddr_moby7559* raddr) {
  if (raddr == nullptr) return "dial " + network + ": missing address";
  return std::nullopt;
}

struct UDPProxy_moby7559 {
  stray::Mutex connTrackLock;

  void Run() {
    for (int i = 0; i < 2; i++) {
      connTrackLock.lock();
      if (std::optional<std::string> err = DialUDP_moby7559("udp", nullptr, nullptr)) {
        continue;  // missing unlock here
      }
      if (i == 0) break;
    }
    connTrackLock.unlock();
  }
};

void Moby7559() {
  for (int i = 0; i < 20; i++) stray::go(&UDPProxy_moby7559::Run, new UDPProxy_moby7559);
}
constexpr const char* kRun = R"(UDPProxy_moby7559::Run(\([^{]*\))? \[sync\.Mutex\.Lock\])";
LEAK_CASE({.name = "Moby7559",
           .kind = Kind::strict,
           .run = Moby7559,
           .expected = {kRun},
           .settle = 100ms});

}  // namespace
}  // namespace leakcases
