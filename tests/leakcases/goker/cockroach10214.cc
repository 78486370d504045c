// cockroach10214.go (CockroachDB #10214): sendQueuedHeartbeats holds the
// store's coalescedMu (L1) and locks each replica's raftMu (L2); a
// replica's tick holds raftMu (L2) and mu (L3) and locks coalescedMu (L1).
// The opposite orders deadlock the two goroutines.
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <vector>

#include "leakcase.h"

namespace leakcases {
namespace {

using namespace std::chrono_literals;

struct Replica_cockroach10214;

struct Store_cockroach10214 {
  struct {
    stray::Mutex Mutex;  // L1 (Go: embedded)
    std::vector<int> heartbeatResponses;
  } coalescedMu;
  struct {
    std::map<int, Replica_cockroach10214*> replicas;
  } mu;

  void sendQueuedHeartbeats();
  void sendQueuedHeartbeatsToNode();
};

struct Replica_cockroach10214 {
  stray::Mutex raftMu;  // L2
  stray::Mutex mu;      // L3
  Store_cockroach10214* store = nullptr;

  void reportUnreachable() {
    raftMu.lock();  // L2 acquire
    stray::sleep(1ms);
    raftMu.unlock();  // L2 release
  }

  void tick() {
    std::lock_guard<stray::Mutex> l2(raftMu);  // L2
    tickRaftMuLocked();
  }

  void tickRaftMuLocked() {
    std::lock_guard<stray::Mutex> l3(mu);  // L3
    if (maybeQuiesceLocked()) return;
  }

  bool maybeQuiesceLocked() {
    for (int i = 0; i < 2; i++)
      if (!maybeCoalesceHeartbeat()) return true;
    return false;
  }

  bool maybeCoalesceHeartbeat() {
    std::uintptr_t msgtype = reinterpret_cast<std::uintptr_t>(this) % 3;
    switch (msgtype) {
      case 0:
      case 1:
      case 2:
        store->coalescedMu.Mutex.lock();  // L1 acquire
        break;
      default:
        return false;
    }
    store->coalescedMu.Mutex.unlock();  // L1 release
    return true;
  }
};

void Store_cockroach10214::sendQueuedHeartbeats() {
  std::lock_guard<stray::Mutex> l1(coalescedMu.Mutex);  // L1
  for (std::size_t i = 0; i < coalescedMu.heartbeatResponses.size(); i++)
    sendQueuedHeartbeatsToNode();  // L2
}

void Store_cockroach10214::sendQueuedHeartbeatsToNode() {
  for (int i = 0; i < int(mu.replicas.size()); i++) mu.replicas[i]->reportUnreachable();  // L2
}

void Cockroach10214() {
  for (int i = 0; i < 1000; i++) {
    stray::go([] {
      auto* store = new Store_cockroach10214;
      std::vector<int>* responses = &store->coalescedMu.heartbeatResponses;
      responses->push_back(1);  // Go: append(*responses, 1, 2)
      responses->push_back(2);
      auto* rp1 = new Replica_cockroach10214;  // L2,3[0]
      rp1->store = store;
      auto* rp2 = new Replica_cockroach10214;  // L2,3[1]
      rp2->store = store;
      store->mu.replicas[0] = rp1;
      store->mu.replicas[1] = rp2;
      stray::go(&Store_cockroach10214::sendQueuedHeartbeats, store);  // G1
      stray::go(&Replica_cockroach10214::tick, rp1);                  // G2
    });
  }
}

constexpr const char* kG1 =
    R"(Store_cockroach10214::sendQueuedHeartbeats\(\)[^:]* \[sync\.Mutex\.Lock\])";
constexpr const char* kG2 = R"(Replica_cockroach10214::tick\(\)[^:]* \[sync\.Mutex\.Lock\])";

LEAK_CASE({.name = "Cockroach10214",
           .kind = Kind::flaky,
           .run = Cockroach10214,
           .expected = {kG1, kG2},
           .settle = std::chrono::milliseconds(100)});

}  // namespace
}  // namespace leakcases
