// etcd10492.go (etcd #10492): Renew holds the lessor's write lock while it
// calls the checkpointer, which calls Checkpoint, which takes the write
// lock again: the goroutine deadlocks on itself.
#include <chrono>
#include <functional>
#include <utility>

#include "leakcase.h"

namespace leakcases {
namespace {

using Checkpointer_etcd10492 = std::function<void(stray::Context)>;

struct lessor_etcd10492 {
  stray::RWMutex mu;
  Checkpointer_etcd10492 cp;
  std::chrono::nanoseconds checkpointInterval{0};

  void Checkpoint() {
    mu.lock();  // the lock is taken twice here
    mu.unlock();
  }

  void SetCheckpointer(Checkpointer_etcd10492 c) {
    mu.lock();
    cp = std::move(c);
    mu.unlock();
  }

  void Renew() {
    mu.lock();
    std::function<void()> unlock = [this] { mu.unlock(); };
    Defer d{[&unlock] { unlock(); }};
    if (cp) cp(stray::background());
  }
};

void Etcd10492() {
  stray::go([] {  // G1
    auto* le = new lessor_etcd10492;
    Checkpointer_etcd10492 fakerCheckerpointer_etcd10492 = [le](stray::Context) {
      le->Checkpoint();
    };
    le->SetCheckpointer(fakerCheckerpointer_etcd10492);
    le->mu.lock();
    le->mu.unlock();
    le->Renew();
  });
}

// Go shows sync.Mutex.Lock (the second writer waits on the RWMutex's inner
// Mutex); stray names the RWMutex.
constexpr const char* kG1 =
    R"(Etcd10492\(\)::\{lambda[^}]*\}::operator\(\)[^:]* \[sync\.(RW)?Mutex\.Lock\])";

LEAK_CASE({.name = "Etcd10492",
           .kind = Kind::strict,
           .run = Etcd10492,
           .expected = {kG1}});

}  // namespace
}  // namespace leakcases
