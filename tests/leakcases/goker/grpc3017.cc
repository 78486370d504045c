// grpc3017.cc — GoKer Grpc3017 (grpc/grpc-go#3017; Go:
// testgoroutineleakprofile/goker/grpc3017.go). Flaky.
//
// RemoveSubConn caches the sub-connection and arms a timer (time.AfterFunc)
// whose function (RemoveSubConn.func1) deletes it after a timeout; a later
// NewSubConn for the same address takes it back and cancels the deletion,
// marking the entry abortDeleting when the timer has already fired. The
// timer's function then returns on that path without unlocking L1: the
// copy's loop (func2.1) and any later timer functions wait for L1 forever,
// and the copy's goroutine (func2) waits for the loop on done.
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "leakcase.h"

namespace leakcases {
namespace {

using namespace std::chrono_literals;
using stray::Unit;

// Go: time.AfterFunc(d, f) and its *time.Timer; stray has no AfterFunc.
// The closest equivalent is Go's own mechanism: a timer thread (Go: the
// runtime's timer processing, which no goroutine runs) keeps the pending
// functions in a deadline-ordered heap, reachable from a global as Go's
// timer heap is a root, and starts each one that expires in a goroutine
// of its own (Go: time.goFunc, `go f()`), so that goroutine's entry is f.
// Stop() removes a pending timer and returns true, or returns false if it
// had expired (f runs), as Go's Timer.Stop. (A waiter goroutine per timer,
// as stray's own context deadlines use, would add a goroutine per call —
// up to a million here — that only runs once the busy loops yield.) The
// thread's stack is a root to stray's detector, as any plain thread's: a
// stale pointer left there could hide a leak, never make one up.
struct funcTimer_grpc3017;

struct timers_grpc3017 {
  std::mutex mu;
  std::condition_variable cv;
  std::multimap<stray::time_point, std::shared_ptr<funcTimer_grpc3017>> heap;  // guarded by mu

  [[noreturn]] void run();
};

struct funcTimer_grpc3017 {
  timers_grpc3017* timers = nullptr;
  std::function<void()> start;  // go f(); empty once expired or stopped (guarded by timers->mu)
  std::multimap<stray::time_point, std::shared_ptr<funcTimer_grpc3017>>::iterator at;

  bool Stop() {
    std::lock_guard<std::mutex> l(timers->mu);
    if (!start) return false;
    timers->heap.erase(at);               // drops the heap's reference: only ours is left
    std::function<void()>().swap(start);  // (not `= nullptr`: that leaves f's address behind)
    return true;
  }
};

void timers_grpc3017::run() {
  std::unique_lock<std::mutex> l(mu);
  for (;;) {
    if (heap.empty()) {
      cv.wait(l);
      continue;
    }
    auto first = heap.begin();
    if (first->first > stray::Clock::now()) {
      cv.wait_until(l, first->first);
      continue;
    }
    std::shared_ptr<funcTimer_grpc3017> t = std::move(first->second);
    heap.erase(first);
    std::function<void()> start;
    start.swap(t->start);  // (not a move: that leaves the old target's address in t->start)
    l.unlock();
    start();
    l.lock();
  }
}

timers_grpc3017* timers_grpc3017_instance() {
  static timers_grpc3017* ts = [] {
    auto* t = new timers_grpc3017;
    std::thread([t] { t->run(); }).detach();
    return t;
  }();
  return ts;
}

template <class F>
std::shared_ptr<funcTimer_grpc3017> AfterFunc_grpc3017(stray::duration d, F f) {
  timers_grpc3017* ts = timers_grpc3017_instance();
  auto t = std::make_shared<funcTimer_grpc3017>();
  t->timers = ts;
  t->start = [f = std::move(f)]() mutable { stray::go(std::move(f)); };
  std::lock_guard<std::mutex> l(ts->mu);
  t->at = ts->heap.emplace(stray::Clock::now() + d, t);
  if (t->at == ts->heap.begin()) ts->cv.notify_one();
  return t;
}

using Address_grpc3017 = int;
using SubConn_grpc3017 = int;

struct subConnCacheEntry_grpc3017 {
  SubConn_grpc3017 sc = 0;
  std::function<void()> cancel;
  bool abortDeleting = false;
};

struct lbCacheClientConn_grpc3017 {
  stray::Mutex mu{};  // L1
  stray::duration timeout{};
  std::map<Address_grpc3017, std::shared_ptr<subConnCacheEntry_grpc3017>> subConnCache{};
  std::map<SubConn_grpc3017, Address_grpc3017> subConnToAddr{};

  SubConn_grpc3017 NewSubConn(const std::vector<Address_grpc3017>& addrs) {
    if (addrs.size() != 1) return SubConn_grpc3017(1);
    Address_grpc3017 addrWithoutMD = addrs[0];
    mu.lock();  // L1
    Defer d{[this] { mu.unlock(); }};
    if (auto it = subConnCache.find(addrWithoutMD); it != subConnCache.end()) {
      std::shared_ptr<subConnCacheEntry_grpc3017> entry = it->second;
      entry->cancel();
      subConnCache.erase(addrWithoutMD);
      return entry->sc;
    }
    SubConn_grpc3017 scNew = SubConn_grpc3017(1);
    subConnToAddr[scNew] = addrWithoutMD;
    return scNew;
  }

  void RemoveSubConn(SubConn_grpc3017 sc) {
    mu.lock();  // L1
    Defer d{[this] { mu.unlock(); }};
    auto at = subConnToAddr.find(sc);
    if (at == subConnToAddr.end()) return;
    Address_grpc3017 addr = at->second;

    if (auto it = subConnCache.find(addr); it != subConnCache.end()) {
      if (it->second->sc != sc) subConnToAddr.erase(sc);
      return;
    }

    // Go: &subConnCacheEntry_grpc3017{...}, a heap object; shared_ptr
    // stands in for the collector (up to a million entries per run).
    auto entry = std::make_shared<subConnCacheEntry_grpc3017>();
    entry->sc = sc;
    subConnCache[addr] = entry;

    std::shared_ptr<funcTimer_grpc3017> timer =
        AfterFunc_grpc3017(timeout, [this, entry, sc, addr] {  // G3
          stray::yield();
          mu.lock();                         // L1
          if (entry->abortDeleting) return;  // Missing unlock
          subConnToAddr.erase(sc);
          subConnCache.erase(addr);
          mu.unlock();
        });

    entry->cancel = [timer, entry = entry.get()] {
      if (!timer->Stop()) entry->abortDeleting = true;
    };
  }
};

void Grpc3017() {
  for (int i = 0; i < 100; i++) {
    stray::go([] {  // G1
      auto done = stray::make_chan<Unit>();

      auto* ccc = new lbCacheClientConn_grpc3017{.timeout = 1ns};

      // Go: sc is shared with the closure (moved to the heap); only the
      // closure uses it afterwards, so it owns it here.
      SubConn_grpc3017 sc = ccc->NewSubConn({Address_grpc3017(1)});
      stray::go([ccc, sc, done]() mutable {  // G2
        for (int i = 0; i < 10000; i++) {
          ccc->RemoveSubConn(sc);
          sc = ccc->NewSubConn({Address_grpc3017(1)});
        }
        done.close();
      });
      (void)done.recv();
    });
  }
}

constexpr const char* kFunc2 =
    R"(Grpc3017\(\)::\{lambda[^}]*\}::operator\(\)[^:]* \[chan receive\])";
constexpr const char* kFunc21 = R"(Grpc3017\(\)::\{lambda[^}]*\}::operator\(\)[^:]*)"
                                R"(::\{lambda[^}]*\}::operator\(\)[^:]* \[sync\.Mutex\.Lock\])";
constexpr const char* kRemoveFunc1 =
    R"(lbCacheClientConn_grpc3017::RemoveSubConn\([^{]*\))"
    R"(::\{lambda[^}]*\}::operator\(\)[^:]* \[sync\.Mutex\.Lock\])";

LEAK_CASE({.name = "Grpc3017",
           .kind = Kind::flaky,
           .run = Grpc3017,
           .expected = {kFunc2, kFunc21, kRemoveFunc1},
           .settle = 100ms});

}  // namespace
}  // namespace leakcases
