// kubernetes38669.cc — GoKer Kubernetes38669 (kubernetes/kubernetes#38669;
// Go: testgoroutineleakprofile/goker/kubernetes38669.go). Strict. (Not in
// the catalogue's table; Go's goroutineleakprofile_test.go lists it.)
//
// A cache watcher's process goroutine first sends its initial events on
// result, an unbuffered channel (chanSize 0) nobody receives from: Stop
// closes input, but process never gets that far.
#include <vector>

#include "leakcase.h"

namespace leakcases {
namespace {

using stray::Chan;

using Event_kubernetes38669 = int;
using watchCacheEvent_kubernetes38669 = int;

struct cacheWatcher_kubernetes38669 : stray::Mutex {  // Go: embeds sync.Mutex
  Chan<watchCacheEvent_kubernetes38669> input;
  Chan<Event_kubernetes38669> result;
  bool stopped = false;

  void process(std::vector<watchCacheEvent_kubernetes38669> initEvents) {
    for (watchCacheEvent_kubernetes38669 event : initEvents) sendWatchCacheEvent(&event);
    for (;;) {
      if (!input.recv()) break;
    }
    Stop();          // Go: deferred
    result.close();  // Go: deferred
  }

  void sendWatchCacheEvent(const watchCacheEvent_kubernetes38669* event) {
    result.send(Event_kubernetes38669(*event));
  }

  void Stop() { stop(); }

  void stop() {
    lock();
    if (!stopped) {
      stopped = true;
      input.close();
    }
    unlock();  // Go: deferred
  }
};

cacheWatcher_kubernetes38669* newCacheWatcher_kubernetes38669(
    int chanSize, std::vector<watchCacheEvent_kubernetes38669> initEvents) {
  auto* watcher = new cacheWatcher_kubernetes38669;
  watcher->input =
      stray::make_chan<watchCacheEvent_kubernetes38669>(static_cast<std::size_t>(chanSize));
  watcher->result = stray::make_chan<Event_kubernetes38669>(static_cast<std::size_t>(chanSize));
  stray::go(&cacheWatcher_kubernetes38669::process, watcher, std::move(initEvents));
  return watcher;
}

void Kubernetes38669() {
  stray::go([] {
    std::vector<watchCacheEvent_kubernetes38669> initEvents = {1, 2};  // Go: a slice
    cacheWatcher_kubernetes38669* w = newCacheWatcher_kubernetes38669(0, initEvents);
    w->Stop();
  });
}
constexpr const char* kProcess =
    R"(cacheWatcher_kubernetes38669::process(\([^{]*\))? \[chan send\])";
LEAK_CASE({.name = "Kubernetes38669",
           .kind = Kind::strict,
           .run = Kubernetes38669,
           .expected = {kProcess}});

}  // namespace
}  // namespace leakcases
