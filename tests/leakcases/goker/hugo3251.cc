// hugo3251.go (Hugo #3251): URLLock takes the RWMutex for writing and then
// the URL's own Mutex; URLUnlock, called by whoever holds the URL's Mutex,
// first needs the RWMutex for reading. A goroutine holding the URL lock
// and waiting in RLock, while another holds the write lock and waits for
// the URL lock, deadlocks the whole group and its WaitGroup's waiter.
#include <chrono>
#include <map>
#include <string>

#include "leakcase.h"

namespace leakcases {
namespace {

using namespace std::chrono_literals;

struct remoteLock_hugo3251 {
  stray::RWMutex RWMutex;                  // L1 (Go: embedded)
  std::map<std::string, stray::Mutex*> m;  // L2

  void URLLock(const std::string& url) {
    RWMutex.lock();  // L1
    if (m.find(url) == m.end()) m[url] = new stray::Mutex;
    m[url]->lock();  // L2
    stray::yield();
    RWMutex.unlock();  // L1
  }

  void URLUnlock(const std::string& url) {
    RWMutex.lock_shared();  // L1
    Defer d{[this] { RWMutex.unlock_shared(); }};
    auto it = m.find(url);
    if (it != m.end()) it->second->unlock();  // L2
  }
};

const char* resGetRemote_hugo3251(remoteLock_hugo3251* remoteURLLock, const std::string& url) {
  remoteURLLock->URLLock(url);
  Defer d{[&] { remoteURLLock->URLUnlock(url); }};
  return nullptr;
}

void Hugo3251() {
  for (int i = 0; i < 11; i++) {
    stray::go([] {  // G1
      std::string url = "http://Foo.Bar/foo_Bar-Foo";
      auto* remoteURLLock = new remoteLock_hugo3251;
      for (int round = 0; round < 2; round++) {  // Go: for range []bool{false, true}
        auto* wg = new stray::WaitGroup;         // Go: captured by the goroutines, so on the heap
        for (int g = 0; g < 100; g++) {
          wg->add(1);
          stray::go(
              [wg, remoteURLLock, url](int gor) {  // G2
                Defer d{[wg] { wg->done(); }};
                for (int j = 0; j < 200; j++) {
                  if (const char* err = resGetRemote_hugo3251(remoteURLLock, url)) (void)err;
                  stray::sleep(300ns);
                }
              },
              g);
        }
        wg->wait();
      }
    });
  }
}

constexpr const char* kG1 =
    R"(Hugo3251\(\)::\{lambda[^}]*\}::operator\(\)[^:]* \[sync\.WaitGroup\.Wait\])";
// Go shows a writer queued behind another writer as sync.Mutex.Lock (the
// RWMutex's inner Mutex); stray names the RWMutex.
constexpr const char* kLock = R"(Hugo3251\(\)::\{lambda[^}]*\}::operator\(\)[^:]*)"
                              R"(::\{lambda[^}]*\}::operator\(\)[^:]* \[sync\.(RW)?Mutex\.Lock\])";
constexpr const char* kRLock = R"(Hugo3251\(\)::\{lambda[^}]*\}::operator\(\)[^:]*)"
                               R"(::\{lambda[^}]*\}::operator\(\)[^:]* \[sync\.RWMutex\.RLock\])";

LEAK_CASE({.name = "Hugo3251",
           .kind = Kind::flaky,
           .run = Hugo3251,
           .expected = {kG1, kLock, kRLock},
           .settle = std::chrono::milliseconds(1000)});

}  // namespace
}  // namespace leakcases
