// moby21233.cc — GoKer Moby21233 (moby/moby#21233; Go:
// testgoroutineleakprofile/goker/moby21233.go). Flaky.
//
// Each transfer's watcher goroutine (G2) sends progress on progressChan,
// whose only consumer (G3) may stop ranging over it early. A watcher then
// blocks sending, so it never closes w.running; Release waits for running
// forever, the later transfers are never released and their watchers wait
// in their select forever.
#include <chrono>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "leakcase.h"

namespace leakcases {
namespace {

using namespace std::chrono_literals;
using stray::Chan;
using stray::Unit;

struct Progress_moby21233 {};

// Go: chanOutput, a channel type implementing the Output interface; as an
// interface value it is the channel pointer itself, so here a value type.
struct chanOutput_moby21233 {
  Chan<Progress_moby21233> out;

  int WriteProgress(Progress_moby21233 p) const {  // returns Go's error: 0 is nil
    out.send(p);
    return 0;
  }
};

chanOutput_moby21233 ChanOutput_moby21233(Chan<Progress_moby21233> progressChan) {
  return {progressChan};
}

struct Watcher_moby21233 {
  Chan<Unit> signalChan;
  Chan<Unit> releaseChan;
  Chan<Unit> running;
};

struct Transfer_moby21233 {
  stray::Mutex mu;

  void Release(Watcher_moby21233* watcher) {
    mu.lock();
    mu.unlock();
    watcher->releaseChan.close();
    (void)watcher->running.recv();
  }

  Watcher_moby21233* Watch(chanOutput_moby21233 progressOutput) {
    std::lock_guard<stray::Mutex> g(mu);
    Progress_moby21233 lastProgress{};
    auto* w = new Watcher_moby21233{stray::make_chan<Unit>(), stray::make_chan<Unit>(),
                                    stray::make_chan<Unit>()};
    stray::go([this, w, progressOutput, lastProgress] {  // G2
      bool done = false;
      for (;;) {
        mu.lock();
        mu.unlock();
        if (rand_intn(2) >= 1) (void)progressOutput.WriteProgress(lastProgress);
        if (done) break;
        if (stray::select(stray::recv_case(w->signalChan), stray::recv_case(w->releaseChan)) == 1)
          done = true;
      }
      w->running.close();  // Go: deferred
    });
    return w;
  }
};

struct TransferManager_moby21233 {
  stray::Mutex mu;

  std::pair<Transfer_moby21233*, Watcher_moby21233*> Transfer(chanOutput_moby21233 progressOutput) {
    std::lock_guard<stray::Mutex> g(mu);
    auto* t = new Transfer_moby21233;
    return {t, t->Watch(progressOutput)};
  }
};

void testTransfer_moby21233() {  // G1
  auto* tm = new TransferManager_moby21233;
  auto progressChan = stray::make_chan<Progress_moby21233>();
  auto progressDone = stray::make_chan<Unit>();
  stray::go([progressChan, progressDone] {  // G3
    stray::sleep(1ms);
    for (Progress_moby21233 p : progressChan) {  // the channel's consumer
      if (rand_intn(2) >= 1) return;
      (void)p;
    }
    progressDone.close();
  });
  stray::sleep(1ms);
  std::vector<std::string> ids = {"id1", "id2", "id3"};
  std::vector<Transfer_moby21233*> xrefs(ids.size());
  std::vector<Watcher_moby21233*> watchers(ids.size());
  for (std::size_t i = 0; i < ids.size(); i++) {
    std::tie(xrefs[i], watchers[i]) =
        tm->Transfer(ChanOutput_moby21233(progressChan));  // the producer
    stray::sleep(2ms);
  }
  for (std::size_t i = 0; i < xrefs.size(); i++) xrefs[i]->Release(watchers[i]);
  progressChan.close();
  (void)progressDone.recv();
}

void Moby21233() {
  for (int i = 0; i < 100; i++) stray::go(testTransfer_moby21233);  // G1
}
constexpr const char* kWatchSend =
    R"(Transfer_moby21233::Watch\([^{]*\)::\{lambda[^}]*\}::operator\(\)[^{]* \[chan send\])";
constexpr const char* kWatchSelect =
    R"(Transfer_moby21233::Watch\([^{]*\)::\{lambda[^}]*\}::operator\(\)[^{]* \[select\])";
constexpr const char* kTest = R"(testTransfer_moby21233(\([^{]*\))? \[chan receive\])";
LEAK_CASE({.name = "Moby21233",
           .kind = Kind::flaky,
           .run = Moby21233,
           .expected = {kWatchSend, kWatchSelect, kTest},
           .settle = 100ms});

}  // namespace
}  // namespace leakcases
