// cockroach7504.go (CockroachDB #7504): AcquireByName locks the table-name
// cache (L2) and then a lease (L1); Release locks the table state (L3), the
// lease (L1) and then the table-name cache (L2). The AB-BA order deadlocks
// the two goroutines.
#include <map>
#include <mutex>
#include <stdexcept>
#include <vector>

#include "leakcase.h"

namespace leakcases {
namespace {

struct LeaseState_cockroach7504 {
  stray::Mutex mu;  // L1
  int id = 0;
};

int MakeCacheKey_cockroach7504(LeaseState_cockroach7504* lease) { return lease->id; }

struct LeaseSet_cockroach7504 {
  std::vector<LeaseState_cockroach7504*> data;

  LeaseState_cockroach7504* find(int id) { return data[std::size_t(id)]; }
  void remove(LeaseState_cockroach7504* s) {
    for (std::size_t i = 0; i < data.size(); i++)
      if (s == data[i]) {
        data.erase(data.begin() + long(i));
        break;
      }
  }
};

struct tableNameCache_cockroach7504 {
  stray::Mutex mu;  // L2
  std::map<int, LeaseState_cockroach7504*> tables;

  void get(int id) {
    std::lock_guard<stray::Mutex> l2(mu);  // L2
    auto it = tables.find(id);
    if (it == tables.end()) return;
    LeaseState_cockroach7504* lease = it->second;
    if (lease == nullptr) throw std::logic_error("nil lease in name cache");
    std::lock_guard<stray::Mutex> l1(lease->mu);  // L1
  }

  void remove(LeaseState_cockroach7504* lease) {
    mu.lock();  // L2
    stray::yield();
    std::lock_guard<stray::Mutex> l2(mu, std::adopt_lock);
    int key = MakeCacheKey_cockroach7504(lease);
    auto it = tables.find(key);
    if (it == tables.end()) return;
    if (it->second == lease) tables.erase(it);
  }
};

struct tableState_cockroach7504 {
  tableNameCache_cockroach7504* tableNameCache = nullptr;
  stray::Mutex mu;  // L3
  LeaseSet_cockroach7504* active = nullptr;

  void release(LeaseState_cockroach7504* lease) {
    std::lock_guard<stray::Mutex> l3(mu);  // L3
    LeaseState_cockroach7504* s = active->find(MakeCacheKey_cockroach7504(lease));
    s->mu.lock();  // L1
    stray::yield();
    std::lock_guard<stray::Mutex> l1(s->mu, std::adopt_lock);
    removeLease(s);
  }

  void removeLease(LeaseState_cockroach7504* lease) {
    active->remove(lease);
    tableNameCache->remove(lease);  // L2 acquire/release
  }
};

struct LeaseManager_cockroach7504 {
  char pad[64] = {};  // Go: _ [64]byte
  tableNameCache_cockroach7504* tableNames = nullptr;
  std::map<int, tableState_cockroach7504*> tables;

  void AcquireByName(int id) { tableNames->get(id); }

  tableState_cockroach7504* findTableState(LeaseState_cockroach7504* lease) {
    auto it = tables.find(lease->id);
    return it == tables.end() ? nullptr : it->second;
  }

  void Release(LeaseState_cockroach7504* lease) {
    tableState_cockroach7504* t = findTableState(lease);
    t->release(lease);
  }
};

LeaseManager_cockroach7504* NewLeaseManager_cockroach7504(tableNameCache_cockroach7504* tname,
                                                          tableState_cockroach7504* ts) {
  auto* mgr = new LeaseManager_cockroach7504;
  mgr->tableNames = tname;
  mgr->tables[0] = ts;
  return mgr;
}

LeaseSet_cockroach7504* NewLeaseSet_cockroach7504(int n) {
  auto* lset = new LeaseSet_cockroach7504;
  for (int i = 0; i < n; i++) lset->data.push_back(new LeaseState_cockroach7504);
  return lset;
}

// Go's closures Cockroach7504.func2.1 and .func2.2: both block in
// Mutex.Lock, so they get names of their own (sibling lambdas would share
// one name here).
void Cockroach7504_func2_1(LeaseManager_cockroach7504* mgr) {
  mgr->AcquireByName(0);  // lock L2-L1
}

void Cockroach7504_func2_2(LeaseManager_cockroach7504* mgr, LeaseSet_cockroach7504* lset) {
  mgr->Release(lset->find(0));  // lock L1-L2
}

void Cockroach7504() {
  for (int i = 0; i < 100; i++) {
    stray::go([] {
      const int leaseNum = 2;
      LeaseSet_cockroach7504* lset = NewLeaseSet_cockroach7504(leaseNum);
      auto* nc = new tableNameCache_cockroach7504;
      for (int j = 0; j < leaseNum; j++) nc->tables[j] = lset->find(j);
      auto* ts = new tableState_cockroach7504;
      ts->tableNameCache = nc;
      ts->active = lset;
      LeaseManager_cockroach7504* mgr = NewLeaseManager_cockroach7504(nc, ts);
      stray::go(Cockroach7504_func2_1, mgr);        // G1
      stray::go(Cockroach7504_func2_2, mgr, lset);  // G2
    });
  }
}

constexpr const char* kG1 = R"(Cockroach7504_func2_1\(.*\)[^:]* \[sync\.Mutex\.Lock\])";
constexpr const char* kG2 = R"(Cockroach7504_func2_2\(.*\)[^:]* \[sync\.Mutex\.Lock\])";

LEAK_CASE({.name = "Cockroach7504",
           .kind = Kind::strict,
           .run = Cockroach7504,
           .expected = {kG1, kG2},
           .settle = std::chrono::milliseconds(100)});

}  // namespace
}  // namespace leakcases
