// etcd7902.go (etcd #7902): in each round a follower's release waits, while
// holding the rounds' mutex, on the channel the leader closes in its own
// release. A follower that validated after the leader replaced the channel
// waits on the new one, which only the leader's next release would close,
// and the leader waits for the mutex: the followers, the leader and the
// WaitGroup's waiter all wait forever.
#include <chrono>
#include <functional>
#include <vector>

#include "leakcase.h"

namespace leakcases {
namespace {

using namespace std::chrono_literals;

struct roundClient_etcd7902 {
  int progress = 0;
  std::function<void()> acquire;
  std::function<void()> validate;
  std::function<void()> release;
};

void doRounds_etcd7902(std::vector<roundClient_etcd7902>& rcs, int rounds) {
  // Go: mu and wg are captured by the goroutines' closures, so on the heap.
  auto* mu = new stray::Mutex;
  auto* wg = new stray::WaitGroup;
  wg->add(int(rcs.size()));
  for (roundClient_etcd7902& r : rcs) {
    stray::go(
        [mu, wg, rounds](roundClient_etcd7902* rc) {  // G2, G3
          Defer d{[wg] { wg->done(); }};
          while (rc->progress < rounds || rounds <= 0) {
            rc->acquire();
            mu->lock();
            rc->validate();
            mu->unlock();
            stray::sleep(10ms);
            rc->progress++;
            mu->lock();
            rc->release();
            mu->unlock();
          }
        },
        &r);
  }
  wg->wait();
}

void runElectionFunc_etcd7902() {
  std::vector<roundClient_etcd7902> rcs(3);
  // Go: nextc and each rcNextc are captured by reference and reassigned, so
  // they are heap variables.
  auto* nextc = new stray::Chan<bool>(stray::make_chan<bool>());
  for (int i = 0; i < int(rcs.size()); i++) {
    auto* rcNextc = new stray::Chan<bool>;
    auto setRcNextc = [rcNextc, nextc] { *rcNextc = *nextc; };
    rcs[std::size_t(i)].acquire = [] {};
    rcs[std::size_t(i)].validate = [setRcNextc] { setRcNextc(); };
    rcs[std::size_t(i)].release = [i, nextc, rcNextc] {
      if (i == 0) {  // assume the first roundClient is the leader
        nextc->close();
        *nextc = stray::make_chan<bool>();
      }
      (void)rcNextc->recv();  // a follower blocks here
    };
  }
  doRounds_etcd7902(rcs, 100);
}

void Etcd7902() {
  for (int i = 0; i < 100; i++) stray::go(runElectionFunc_etcd7902);  // G1
}

constexpr const char* kRecv =
    R"(doRounds_etcd7902\(.*\)::\{lambda[^}]*\}::operator\(\)[^:]* \[chan receive\])";
constexpr const char* kLock =
    R"(doRounds_etcd7902\(.*\)::\{lambda[^}]*\}::operator\(\)[^:]* \[sync\.Mutex\.Lock\])";
constexpr const char* kG1 = R"(runElectionFunc_etcd7902\(\)[^:]* \[sync\.WaitGroup\.Wait\])";

LEAK_CASE({.name = "Etcd7902",
           .kind = Kind::flaky,
           .run = Etcd7902,
           .expected = {kRecv, kLock, kG1},
           .settle = std::chrono::milliseconds(100)});

}  // namespace
}  // namespace leakcases
