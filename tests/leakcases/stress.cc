// stress.cc — the corpus's stress cases (../shared/leak-cases.md "Stress
// cases"; Go: testgoroutineleakprofile/stresstests.go). They stress the
// detector rather than its precision: many passes at once over a growing
// tree of goroutines (SpawnGC), and the worst case for the fixpoint, a
// chain that wakes one link at a time (DaisyChain).
#include <chrono>
#include <functional>
#include <streambuf>

#include "leakcase.h"

namespace leakcases {
namespace {

using stray::go;
using stray::make_chan;

// Go's io.Discard.
struct Discard : std::streambuf {
  int overflow(int c) override { return c; }
  std::streamsize xsputn(const char*, std::streamsize n) override { return n; }
};

constexpr int kSpawnGCMaxDepth = 5;

// A node of the tree: one leaf goroutine blocked for good on a channel of
// its own (Go: spawnGC.func1) and i children, each a subtree of depth i-1
// (spawnGC.func2); once they all started, the node writes a leak profile,
// all nodes at once. The root's profile is the harness's, after run().
// 1 + 5 + 5·4 + 5·4·3 + 5·4·3·2 = 206 nodes, as many leaves.
void spawnGC(int i) {
  if (i == 0) return;
  auto* wg = new stray::WaitGroup;  // Go: &sync.WaitGroup{}, never freed (the leaf keeps it)
  wg->add(i + 1);
  go([wg] {
    wg->done();
    (void)make_chan<int>().recv();
  });
  for (int j = 0; j < i; j++) {
    go([wg, i] {
      wg->done();
      spawnGC(i - 1);
    });
  }
  wg->wait();
  stray::yield();
  if (i == kSpawnGCMaxDepth) return;
  Discard discard;
  std::ostream out(&discard);
  stray::pprof::lookup("goroutineleak")->write_to(out, 2);
}

void SpawnGC() { spawnGC(kSpawnGCMaxDepth); }
LEAK_CASE({.name = "SpawnGC", .kind = Kind::flaky, .run = SpawnGC,
           // The leaves (spawnGC.func1); any other goroutine here blocks in wg->wait().
           .expected = {R"(^leakcases::\(anonymous namespace\)::spawnGC\([^)]*\)::\{lambda[^}]*\}::operator\(\)(\(\) const)? \[chan receive\]$)"}});

// 1000 goroutines in a chain, each receiving from the next one's channel
// and then sending on its own; the tail sleeps an hour and then sends. A
// sleeping goroutine is a root, so every link is eventually runnable: no
// leak, and the fixpoint can only learn it one link after the other.
//
// Go's chain is a closure variable the closure itself calls: Go moves it to
// the heap, a std::function here. go() copies it (the lambda holds only the
// pointer) onto each new goroutine's stack, as Go's go statement copies the
// func value.
void DaisyChain() {
  using Link = std::function<void(int, stray::Chan<stray::Unit>)>;
  auto* chain = new Link;
  *chain = [chain](int i, stray::Chan<stray::Unit> ch) {
    if (i <= 0) {
      go([ch] {
        stray::sleep(std::chrono::hours(1));
        ch.send({});
      });
      return;
    }
    auto ch2 = make_chan<stray::Unit>();
    go(*chain, i - 1, ch2);
    (void)ch2.recv();
    ch.send({});
  };
  // The channel's buffer lets the head finish: it never leaks.
  go(*chain, 1000, make_chan<stray::Unit>(1));
}
// Go sleeps a second before its profile; with one processor the chain is
// built within milliseconds, so 100 ms does.
LEAK_CASE({.name = "DaisyChain", .kind = Kind::strict, .run = DaisyChain, .settle = std::chrono::milliseconds(100)});

}  // namespace
}  // namespace leakcases
