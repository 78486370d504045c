// moby25384.cc — GoKer Moby25348 (moby/moby#25384; Go:
// testgoroutineleakprofile/goker/moby25384.go, case "Moby25348"). Strict.
//
// init adds len(plugins) to a WaitGroup up front and then waits inside the
// loop that starts the goroutines: after the first one is done the counter
// is 1, and the second goroutine is never started.
#include <vector>

#include "leakcase.h"

namespace leakcases {
namespace {

struct plugin_moby25348 {
  int id = 0;  // Go: struct{}
};

struct Manager_moby25348 {
  std::vector<plugin_moby25348*> plugins;

  void init() {
    // Go: `var group sync.WaitGroup`, captured by reference by the
    // goroutines, so moved to the heap.
    auto* group = new stray::WaitGroup;
    group->add(static_cast<int>(plugins.size()));
    for (plugin_moby25348* p : plugins) {
      stray::go([group](plugin_moby25348*) { group->done(); }, p);
      group->wait();  // blocks here
    }
  }
};

void Moby25348() {
  stray::go([] {
    auto* p1 = new plugin_moby25348;
    auto* p2 = new plugin_moby25348;
    auto* pm = new Manager_moby25348{{p1, p2}};
    stray::go(&Manager_moby25348::init, pm);
  });
}
constexpr const char* kInit = R"(Manager_moby25348::init(\([^{]*\))? \[sync\.WaitGroup\.Wait\])";
LEAK_CASE({.name = "Moby25348",
           .kind = Kind::strict,
           .run = Moby25348,
           .expected = {kInit}});

}  // namespace
}  // namespace leakcases
