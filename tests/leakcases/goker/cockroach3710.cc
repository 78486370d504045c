// cockroach3710.go (CockroachDB #3710): ForceRaftLogScanAndProcess holds
// s.mu for reading while it walks the replicas, and a callee takes s.mu for
// reading again (RaftStatus). A writer (processRaft's goroutine) arriving
// in between blocks the second RLock, and the writer waits for the first
// reader forever.
#include <cstdint>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <vector>

#include "leakcase.h"

namespace leakcases {
namespace {

struct Replica_cockroach3710;
struct baseQueue_cockroach3710;

struct Store_cockroach3710 {
  baseQueue_cockroach3710* raftLogQueue = nullptr;
  std::map<int, Replica_cockroach3710*> replicas;
  struct {
    stray::RWMutex RWMutex;
  } mu;

  void ForceRaftLogScanAndProcess();
  void RaftStatus() { std::shared_lock<stray::RWMutex> l(mu.RWMutex); }

  void processRaft() {
    stray::go([this] {
      for (;;) {
        std::vector<Replica_cockroach3710*> rs;
        mu.RWMutex.lock();
        for (auto& [k, r] : replicas) rs.push_back(r);
        mu.RWMutex.unlock();
        break;
      }
    });
  }
};

struct Replica_cockroach3710 {
  Store_cockroach3710* store;
};

void getTruncatableIndexes_cockroach3710(Replica_cockroach3710* r) { r->store->RaftStatus(); }

struct raftLogQueue_cockroach3710 {
  void shouldQueue(Replica_cockroach3710* r) { getTruncatableIndexes_cockroach3710(r); }
};

struct baseQueue_cockroach3710 {
  stray::Mutex Mutex;  // Go: an embedded sync.Mutex
  raftLogQueue_cockroach3710* impl = nullptr;

  void MaybeAdd(Replica_cockroach3710* repl) {
    std::lock_guard<stray::Mutex> l(Mutex);
    impl->shouldQueue(repl);
  }
};

void Store_cockroach3710::ForceRaftLogScanAndProcess() {
  mu.RWMutex.lock_shared();
  stray::yield();
  for (auto& [k, r] : replicas) raftLogQueue->MaybeAdd(r);
  mu.RWMutex.unlock_shared();
}

Store_cockroach3710* NewStore_cockroach3710() {
  auto* rlq = new raftLogQueue_cockroach3710;
  auto* bq = new baseQueue_cockroach3710;
  bq->impl = rlq;
  auto* store = new Store_cockroach3710;
  store->raftLogQueue = bq;
  auto* r1 = new Replica_cockroach3710{store};
  auto* r2 = new Replica_cockroach3710{store};
  auto makeKey = [](Replica_cockroach3710* r) {
    return int((reinterpret_cast<std::uintptr_t>(r) >> 1) % 7);
  };
  store->replicas[makeKey(r1)] = r1;
  store->replicas[makeKey(r2)] = r2;
  return store;
}

void Cockroach3710() {
  for (int i = 0; i < 10000; i++) {
    stray::go([] {
      Store_cockroach3710* store = NewStore_cockroach3710();
      stray::go(&Store_cockroach3710::ForceRaftLogScanAndProcess, store);  // G1
      stray::go(&Store_cockroach3710::processRaft, store);                 // G2
    });
  }
}

constexpr const char* kG1 =
    R"(Store_cockroach3710::ForceRaftLogScanAndProcess\(\)[^:]* \[sync\.RWMutex\.RLock\])";
constexpr const char* kG2 = R"(Store_cockroach3710::processRaft\(\)[^:]*)"
                            R"(::\{lambda[^}]*\}::operator\(\)[^:]* \[sync\.RWMutex\.Lock\])";

LEAK_CASE({.name = "Cockroach3710",
           .kind = Kind::flaky,
           .run = Cockroach3710,
           .expected = {kG1, kG2},
           .settle = std::chrono::milliseconds(100)});

}  // namespace
}  // namespace leakcases
