// cockroach6181.go (CockroachDB #6181): LookupRangeDescriptor holds the
// range cache's RWMutex for reading while String() takes it for reading
// again, then takes it for writing. With three lookups at once, a writer
// waiting for the readers blocks a reader's recursive RLock, and the
// test's WaitGroup never reaches zero.
#include <mutex>
#include <shared_mutex>
#include <string>

#include "leakcase.h"

namespace leakcases {
namespace {

struct rangeDescriptorCache_cockroach6181 {
  stray::RWMutex rangeCacheMu;

  void LookupRangeDescriptor() {
    rangeCacheMu.lock_shared();
    stray::yield();
    std::string s = String();  // Go: io.Discard.Write([]byte(rdc.String()))
    (void)s;
    rangeCacheMu.unlock_shared();
    rangeCacheMu.lock();
    rangeCacheMu.unlock();
  }

  std::string String() {
    std::shared_lock<stray::RWMutex> l(rangeCacheMu);
    return stringLocked();
  }

  std::string stringLocked() { return "something here"; }
};

struct testDescriptorDB_cockroach6181 {
  rangeDescriptorCache_cockroach6181* cache;
};

testDescriptorDB_cockroach6181* initTestDescriptorDB_cockroach6181() {
  return new testDescriptorDB_cockroach6181{new rangeDescriptorCache_cockroach6181};
}

void doLookupWithToken_cockroach6181(rangeDescriptorCache_cockroach6181* rc) {
  rc->LookupRangeDescriptor();
}

void testRangeCacheCoalescedRequests_cockroach6181() {
  testDescriptorDB_cockroach6181* db = initTestDescriptorDB_cockroach6181();
  auto pauseLookupResumeAndAssert = [db] {
    auto* wg = new stray::WaitGroup;  // Go: captured by the goroutines, so on the heap
    for (int i = 0; i < 3; i++) {
      wg->add(1);
      stray::go([db, wg] {  // G2, G3, ...
        doLookupWithToken_cockroach6181(db->cache);
        wg->done();
      });
    }
    wg->wait();
  };
  pauseLookupResumeAndAssert();
}

void Cockroach6181() {
  for (int i = 0; i < 100; i++) stray::go(testRangeCacheCoalescedRequests_cockroach6181);  // G1
}

constexpr const char* kG1 =
    R"(testRangeCacheCoalescedRequests_cockroach6181\(\)[^:]* \[sync\.WaitGroup\.Wait\])";
constexpr const char* kLock =
    R"(testRangeCacheCoalescedRequests_cockroach6181\(\)::\{lambda[^}]*\}::operator\(\)[^:]*)"
    R"(::\{lambda[^}]*\}::operator\(\)[^:]* \[sync\.(RW)?Mutex\.Lock\])";
constexpr const char* kRLock =
    R"(testRangeCacheCoalescedRequests_cockroach6181\(\)::\{lambda[^}]*\}::operator\(\)[^:]*)"
    R"(::\{lambda[^}]*\}::operator\(\)[^:]* \[sync\.RWMutex\.RLock\])";

LEAK_CASE({.name = "Cockroach6181",
           .kind = Kind::flaky,
           .run = Cockroach6181,
           .expected = {kG1, kLock, kRLock},
           .settle = std::chrono::milliseconds(100)});

}  // namespace
}  // namespace leakcases
