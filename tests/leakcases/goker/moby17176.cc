// moby17176.cc — GoKer Moby17176 (moby/moby#17176; Go:
// testgoroutineleakprofile/goker/moby17176.go). Strict.
//
// cleanupDeletedDevices returns early without unlocking the device set; the
// goroutine that then locks it waits forever (nobody holds the lock any
// more: its holder returned). The test itself gives up after 1 ms.
#include <chrono>
#include <optional>
#include <string>

#include "leakcase.h"

namespace leakcases {
namespace {

using namespace std::chrono_literals;

struct DeviceSet_moby17176 : stray::Mutex {  // Go: embeds sync.Mutex
  int nrDeletedDevices = 0;

  std::optional<std::string> cleanupDeletedDevices() {  // Go's error; nullopt: nil
    lock();
    if (nrDeletedDevices == 0) {
      return std::nullopt;  // missing unlock()
    }
    unlock();
    return "Error";
  }
};

void testDevmapperLockReleasedDeviceDeletion_moby17176() {
  auto* ds = new DeviceSet_moby17176;  // Go: &DeviceSet{}, captured by the goroutine below
  (void)ds->cleanupDeletedDevices();
  auto doneChan = stray::make_chan<bool>();
  stray::go([ds, doneChan] {
    ds->lock();
    doneChan.send(true);
    ds->unlock();  // Go: deferred
  });
  stray::select(stray::recv_case(stray::after(1ms)), stray::recv_case(doneChan));
}

void Moby17176() {
  for (int i = 0; i < 100; i++) stray::go(testDevmapperLockReleasedDeviceDeletion_moby17176);
}
constexpr const char* kFunc1 =
    R"(testDevmapperLockReleasedDeviceDeletion_moby17176\([^{]*\)::\{lambda[^}]*\}::operator\(\)[^{]* \[sync\.Mutex\.Lock\])";
LEAK_CASE({.name = "Moby17176",
           .kind = Kind::strict,
           .run = Moby17176,
           .expected = {kFunc1},
           .settle = 100ms});

}  // namespace
}  // namespace leakcases
