// moby36114.cc — GoKer Moby36114 (moby/moby#36114; Go:
// testgoroutineleakprofile/goker/moby36114.go). Flaky.
//
// hotAddVHDsAtStart locks the service VM and calls hotRemoveVHDsAtStart,
// which locks it again: a goroutine waits for a lock it holds itself.
#include <chrono>
#include <mutex>

#include "leakcase.h"

namespace leakcases {
namespace {

using namespace std::chrono_literals;

struct serviceVM_moby36114 : stray::Mutex {  // Go: embeds sync.Mutex
  void hotAddVHDsAtStart() {
    std::lock_guard<stray::Mutex> g(*this);
    hotRemoveVHDsAtStart();
  }
  void hotRemoveVHDsAtStart() { std::lock_guard<stray::Mutex> g(*this); }
};

void Moby36114() {
  for (int i = 0; i < 100; i++) {
    stray::go([] {
      auto* s = new serviceVM_moby36114;
      stray::go(&serviceVM_moby36114::hotAddVHDsAtStart, s);
    });
  }
}
constexpr const char* kHotAdd =
    R"(serviceVM_moby36114::hotAddVHDsAtStart(\([^{]*\))? \[sync\.Mutex\.Lock\])";
LEAK_CASE({.name = "Moby36114",
           .kind = Kind::flaky,
           .run = Moby36114,
           .expected = {kHotAdd},
           .settle = 100ms});

}  // namespace
}  // namespace leakcases
