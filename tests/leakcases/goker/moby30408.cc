// moby30408.cc — GoKer Moby30408 (moby/moby#30408; Go:
// testgoroutineleakprofile/goker/moby30408.go). Strict. (Not in the
// catalogue's table; Go's goroutineleakprofile_test.go lists it.)
//
// waitActive waits on the plugin's Cond until the plugin is activated; when
// activation fails (activateErr set, Manifest never set) nobody signals:
// the waiter (testActive.func1) waits forever and testActive's caller
// forever on done.
#include <string>
#include <vector>

#include "leakcase.h"

namespace leakcases {
namespace {

using stray::Chan;
using stray::Unit;

struct Manifest_moby30408 {
  std::vector<std::string> Implements;
};

struct Plugin_moby30408 {
  stray::Mutex* L = nullptr;  // Go: activateWait.L
  stray::Cond* activateWait = nullptr;
  std::string activateErr;  // Go's error; empty is nil
  Manifest_moby30408* Manifest = nullptr;

  std::string waitActive() {
    L->lock();
    while (!activated()) activateWait->wait();
    L->unlock();
    return activateErr;
  }

  bool activated() const { return Manifest != nullptr; }
};

void testActive_moby30408(Plugin_moby30408* p) {
  auto done = stray::make_chan<Unit>();
  stray::go([p, done] {  // G2
    (void)p->waitActive();
    done.close();
  });
  (void)done.recv();
}

void Moby30408() {
  stray::go([] {                     // G1
    auto* p = new Plugin_moby30408;  // Go: &Plugin{activateWait: sync.NewCond(&sync.Mutex{})}
    p->L = new stray::Mutex;
    p->activateWait = new stray::Cond(*p->L);
    p->activateErr = "some junk happened";
    testActive_moby30408(p);
  });
}
constexpr const char* kFunc2 =
    R"(Moby30408\([^{]*\)::\{lambda[^}]*\}::operator\(\)[^{]* \[chan receive\])";
constexpr const char* kWaiter =
    R"(testActive_moby30408\([^{]*\)::\{lambda[^}]*\}::operator\(\)[^{]* \[sync\.Cond\.Wait\])";
LEAK_CASE({.name = "Moby30408",
           .kind = Kind::strict,
           .run = Moby30408,
           .expected = {kFunc2, kWaiter}});

}  // namespace
}  // namespace leakcases
