// etcd7492.cc — GoKer Etcd7492 (etcd-io/etcd#7492; Go:
// testgoroutineleakprofile/goker/etcd7492.go). Flaky.
//
// Three Authenticate calls (func2.1) each take the simple-token lock and
// hand a token to the TTL keeper (run, G1) over a channel of capacity 1.
// On a tick with tokens pending, run deletes them through a callback that
// takes the same lock. When run waits for the lock while a token sits in
// the channel's buffer, the Authenticate holding the lock blocks sending
// the next token: run waits on the lock, that Authenticate on the channel,
// and the copy's goroutine (func2) on its WaitGroup.
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "leakcase.h"

namespace leakcases {
namespace {

using namespace std::chrono_literals;
using stray::Chan;
using stray::Unit;

struct TokenProvider_etcd7492 {  // Go: an interface
  virtual void assign() = 0;
  virtual void enable() = 0;
  virtual void disable() = 0;

 protected:
  ~TokenProvider_etcd7492() = default;
};

struct simpleTokenTTLKeeper_etcd7492 {
  std::map<std::string, stray::time_point> tokens;
  Chan<Unit> addSimpleTokenCh;
  Chan<Chan<Unit>> stopCh;
  std::function<void(std::string)> deleteTokenFunc;

  void run() {
    // Go: time.NewTicker returns a heap *Ticker. (Left running when run
    // leaks, as in Go; stray's timer thread then re-arms it every 1 ns.)
    auto tokenTicker = std::make_unique<stray::Ticker>(1ns);
    Defer d{[&tokenTicker] { tokenTicker->stop(); }};
    for (;;) {
      bool done = false;
      stray::select(stray::recv_case(addSimpleTokenCh,
                                     [this] {
                                       stray::yield();
                                       // Make tm.tokens not empty is enough
                                       tokens["1"] = stray::Clock::now();
                                     }),
                    stray::recv_case(tokenTicker->c(),
                                     [this] {
                                       stray::yield();
                                       for (auto it = tokens.begin(); it != tokens.end();) {
                                         deleteTokenFunc(it->first);
                                         it = tokens.erase(it);
                                       }
                                     }),
                    stray::recv_case(stopCh, [&done](std::optional<Chan<Unit>> waitCh) {
                      // Go: a closed stopCh yields a nil waitCh, whose send blocks.
                      waitCh.value_or(Chan<Unit>{}).send(Unit{});
                      done = true;
                    }));
      if (done) return;
    }
  }

  void addSimpleToken() {
    addSimpleTokenCh.send(Unit{});
    stray::yield();
  }

  void stop() {
    auto waitCh = stray::make_chan<Unit>();
    stopCh.send(waitCh);
    (void)waitCh.recv();
    stopCh.close();
  }
};

struct authStore_etcd7492 {
  TokenProvider_etcd7492* tokenProvider = nullptr;

  void Authenticate() { tokenProvider->assign(); }
};

simpleTokenTTLKeeper_etcd7492* NewSimpleTokenTTLKeeper_etcd7492(
    std::function<void(std::string)> deletefunc) {
  auto* stk = new simpleTokenTTLKeeper_etcd7492{
      .tokens = {},
      .addSimpleTokenCh = stray::make_chan<Unit>(1),
      .stopCh = stray::make_chan<Chan<Unit>>(),
      .deleteTokenFunc = std::move(deletefunc),
  };
  stray::go(&simpleTokenTTLKeeper_etcd7492::run, stk);  // G1
  return stk;
}

struct tokenSimple_etcd7492;
std::function<void(std::string)> newDeleterFunc_etcd7492(tokenSimple_etcd7492* t);

struct tokenSimple_etcd7492 final : TokenProvider_etcd7492 {
  simpleTokenTTLKeeper_etcd7492* simpleTokenKeeper = nullptr;
  stray::RWMutex simpleTokensMu;

  void assign() override { assignSimpleTokenToUser(); }

  void assignSimpleTokenToUser() {
    simpleTokensMu.lock();
    stray::yield();
    simpleTokenKeeper->addSimpleToken();
    simpleTokensMu.unlock();
  }

  void enable() override {
    simpleTokenKeeper = NewSimpleTokenTTLKeeper_etcd7492(newDeleterFunc_etcd7492(this));
  }

  void disable() override {
    if (simpleTokenKeeper != nullptr) {
      simpleTokenKeeper->stop();
      simpleTokenKeeper = nullptr;
    }
    simpleTokensMu.lock();
    simpleTokensMu.unlock();
  }
};

// Go: newDeleterFunc (the original's one name without the case suffix).
std::function<void(std::string)> newDeleterFunc_etcd7492(tokenSimple_etcd7492* t) {
  return [t](std::string tk) {
    t->simpleTokensMu.lock();
    Defer d{[t] { t->simpleTokensMu.unlock(); }};
  };
}

tokenSimple_etcd7492* newTokenProviderSimple_etcd7492() { return new tokenSimple_etcd7492; }

// Returns Go's (store, teardownfunc).
std::pair<authStore_etcd7492*, std::function<void()>> setupAuthStore_etcd7492() {
  auto* as = new authStore_etcd7492{newTokenProviderSimple_etcd7492()};
  as->tokenProvider->enable();
  auto tearDown = [as] { as->tokenProvider->disable(); };
  return {as, tearDown};
}

void Etcd7492() {
  for (int i = 0; i < 100; i++) {
    stray::go([] {
      auto setup = setupAuthStore_etcd7492();
      authStore_etcd7492* as = setup.first;
      Defer d{[&setup] { setup.second(); }};  // Go: defer tearDown()
      auto* wg = new stray::WaitGroup;        // Go: captured by the closures, so on the heap
      wg->add(3);
      for (int i = 0; i < 3; i++) {
        stray::go([as, wg] {  // G2
          as->Authenticate();
          wg->done();  // Go: deferred
        });
      }
      wg->wait();
    });
  }
}

constexpr const char* kFunc2 =
    R"(Etcd7492\(\)::\{lambda[^}]*\}::operator\(\)[^:]* \[sync\.WaitGroup\.Wait\])";
constexpr const char* kFunc21 = R"(Etcd7492\(\)::\{lambda[^}]*\}::operator\(\)[^:]*)"
                                R"(::\{lambda[^}]*\}::operator\(\)[^:]* \[chan send\])";
// Go: sync.Mutex.Lock (a writer behind a writer); stray: sync.RWMutex.Lock.
constexpr const char* kRun =
    R"(simpleTokenTTLKeeper_etcd7492::run(\([^{]*\))? \[sync\.(RW)?Mutex\.Lock\])";

LEAK_CASE({.name = "Etcd7492",
           .kind = Kind::flaky,
           .run = Etcd7492,
           .expected = {kFunc2, kFunc21, kRun},
           .settle = 100ms});

}  // namespace
}  // namespace leakcases
