// micro.cc — the corpus's micro cases (../shared/leak-cases.md "Micro
// cases"; Go: testgoroutineleakprofile/simple.go). All strict.
#include "leakcase.h"

namespace leakcases {
namespace {

using stray::go;
using stray::make_chan;

void NilRecv() {
  go([] {
    stray::Chan<int> c;  // nil
    (void)c.recv();
  });
}
LEAK_CASE({.name = "NilRecv", .kind = Kind::strict, .run = NilRecv,
           .expected = {R"(NilRecv.* \[chan receive \(nil chan\)\])"}});

void ChanRecv() {
  go([] {
    auto c = make_chan<int>();
    (void)c.recv();
  });
}
LEAK_CASE({.name = "ChanRecv", .kind = Kind::strict, .run = ChanRecv, .expected = {R"(ChanRecv.* \[chan receive\])"}});

// Go: 1000 goroutines each make a heap Mutex, lock it, and start an inner
// goroutine that locks it again; the outer returns.
void MutexHeap() {
  for (int i = 0; i < 1000; i++) {
    go([] {
      auto* mu = new stray::Mutex;
      mu->lock();
      go([mu] { mu->lock(); });
    });
  }
}
constexpr const char* kMutexHeapInner = R"(MutexHeap.*\{lambda\}.*\{lambda\}.* \[sync\.Mutex\.Lock\])";
LEAK_CASE({.name = "MutexHeap", .kind = Kind::strict, .run = MutexHeap, .expected = {kMutexHeapInner},
           .known_misses = {kMutexHeapInner}});

stray::Chan<int> global_chan = make_chan<int>();

void NoLeakGlobal() {
  go([] { (void)global_chan.recv(); });
}
LEAK_CASE({.name = "NoLeakGlobal", .kind = Kind::strict, .run = NoLeakGlobal});

}  // namespace
}  // namespace leakcases
