// moby4951.cc — GoKer Moby4951 (moby/moby#4951; Go:
// testgoroutineleakprofile/goker/moby4951.go). Flaky.
//
// DeleteDevice locks the device set, then the device's own lock, and in
// removeDeviceAndWait releases the set's lock for a moment and takes it back
// while still holding the device's. Two deletions of the same device: the
// second takes the set's lock in that moment and waits for the device's lock;
// the first waits for the set's lock.
#include <chrono>
#include <map>
#include <mutex>
#include <string>

#include "leakcase.h"

namespace leakcases {
namespace {

using namespace std::chrono_literals;

struct DevInfo_moby4951 {
  stray::Mutex lock;
  std::string name;

  const std::string& Name() const { return name; }
};

struct DeviceSet_moby4951 : stray::Mutex {  // Go: embeds sync.Mutex
  std::map<std::string, DevInfo_moby4951*> infos;
  int nrDeletedDevices = 0;

  void DeleteDevice(std::string hash) {
    std::lock_guard<stray::Mutex> g(*this);
    DevInfo_moby4951* info = lookupDevice(hash);
    std::lock_guard<stray::Mutex> gi(info->lock);
    stray::yield();
    deleteDevice(info);
  }

  DevInfo_moby4951* lookupDevice(const std::string& hash) {
    auto it = infos.find(hash);
    return it == infos.end() ? nullptr : it->second;
  }

  void deleteDevice(DevInfo_moby4951* info) { removeDeviceAndWait(info->Name()); }

  void removeDeviceAndWait(const std::string& devname) {
    // remove devices by devname
    unlock();
    stray::sleep(300ns);
    lock();
  }
};

DeviceSet_moby4951* NewDeviceSet_moby4951() {
  auto* devices = new DeviceSet_moby4951;
  auto* info1 = new DevInfo_moby4951{{}, "info1"};
  auto* info2 = new DevInfo_moby4951{{}, "info2"};
  devices->infos[info1->name] = info1;
  devices->infos[info2->name] = info2;
  return devices;
}

void Moby4951() {
  stray::go([] {
    DeviceSet_moby4951* ds = NewDeviceSet_moby4951();
    // Delete devices by the same info.
    stray::go(&DeviceSet_moby4951::DeleteDevice, ds, std::string("info1"));
    stray::go(&DeviceSet_moby4951::DeleteDevice, ds, std::string("info1"));
  });
}
constexpr const char* kDelete =
    R"(DeviceSet_moby4951::DeleteDevice(\([^{]*\))? \[sync\.Mutex\.Lock\])";
LEAK_CASE({.name = "Moby4951",
           .kind = Kind::flaky,
           .run = Moby4951,
           .expected = {kDelete},
           .settle = 100ms});

}  // namespace
}  // namespace leakcases
