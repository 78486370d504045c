// syncthing4829.cc — GoKer Syncthing4829 (syncthing/syncthing#4829; Go:
// testgoroutineleakprofile/goker/syncthing4829.go). Strict.
//
// clearAddresses write-locks the mapping and, with addresses removed, calls
// notify, which read-locks the same RWMutex: the goroutine waits for itself.
#include <map>
#include <string>
#include <vector>

#include "leakcase.h"

namespace leakcases {
namespace {

using Address_syncthing4829 = int;

struct Mapping_syncthing4829 {
  stray::RWMutex mut;  // L2
  std::map<std::string, Address_syncthing4829> extAddresses;

  void clearAddresses() {
    mut.lock();  // L2
    std::vector<Address_syncthing4829> removed;
    for (auto it = extAddresses.begin(); it != extAddresses.end();) {
      removed.push_back(it->second);
      it = extAddresses.erase(it);
    }
    if (!removed.empty()) notify({}, removed);
    mut.unlock();  // L2
  }

  void notify(std::vector<Address_syncthing4829> added,
              std::vector<Address_syncthing4829> removed) {
    mut.lock_shared();    // L2
    mut.unlock_shared();  // L2
  }
};

struct Service_syncthing4829 {
  stray::RWMutex mut;  // L1
  std::vector<Mapping_syncthing4829*> mappings;

  Mapping_syncthing4829* NewMapping() {
    auto* mapping = new Mapping_syncthing4829;
    mut.lock();  // L1
    mappings.push_back(mapping);
    mut.unlock();  // L1
    return mapping;
  }

  void RemoveMapping(Mapping_syncthing4829* mapping) {
    mut.lock();  // L1
    for (Mapping_syncthing4829* existing : mappings)
      if (existing == mapping) mapping->clearAddresses();
    mut.unlock();  // L1, Go: deferred
  }
};

void Syncthing4829() {
  stray::go([] {  // G1
    auto* natSvc = new Service_syncthing4829;
    Mapping_syncthing4829* m = natSvc->NewMapping();
    m->extAddresses["test"] = 0;
    natSvc->RemoveMapping(m);
  });
}
constexpr const char* kFunc2 =
    R"(Syncthing4829\([^{]*\)::\{lambda[^}]*\}::operator\(\)[^{]* \[sync\.RWMutex\.RLock\])";
LEAK_CASE({.name = "Syncthing4829",
           .kind = Kind::strict,
           .run = Syncthing4829,
           .expected = {kFunc2}});

}  // namespace
}  // namespace leakcases
