// syncthing5795.cc — GoKer Syncthing5795 (syncthing/syncthing#5795; Go:
// testgoroutineleakprofile/goker/syncthing5795.go). Strict. (Not in the
// catalogue's table; Go's goroutineleakprofile_test.go lists it.)
//
// The dispatcher loop (G2) hands a ClusterConfig message to the model,
// whose callback closes the connection: Close waits for the dispatcher loop
// to stop, i.e. for itself. The goroutine that sent the message (G1) waits
// for the loop to stop too.
#include <functional>

#include "leakcase.h"

namespace leakcases {
namespace {

using stray::Chan;
using stray::Unit;

struct message_syncthing5795 {  // Go: interface{}
  virtual ~message_syncthing5795() = default;
};

struct ClusterConfig_syncthing5795 final : message_syncthing5795 {};

struct Model_syncthing5795 {  // Go: an interface
  virtual void ClusterConfig(message_syncthing5795* msg) = 0;

 protected:
  ~Model_syncthing5795() = default;
};

struct TestModel_syncthing5795 final : Model_syncthing5795 {
  std::function<void()> ccFn;

  void ClusterConfig(message_syncthing5795* msg) override {
    if (ccFn) ccFn();
  }
};

struct Connection_syncthing5795 {  // Go: an interface
  virtual void Start() = 0;
  virtual void Close() = 0;

 protected:
  ~Connection_syncthing5795() = default;
};

struct rawConnection_syncthing5795 final : Connection_syncthing5795 {
  Model_syncthing5795* receiver = nullptr;

  Chan<message_syncthing5795*> inbox;
  Chan<Unit> dispatcherLoopStopped;
  Chan<Unit> closed;
  stray::Once closeOnce;

  void Start() override { stray::go(&rawConnection_syncthing5795::dispatcherLoop, this); }  // G2

  void dispatcherLoop() {
    message_syncthing5795* msg = nullptr;
    for (;;) {
      int i = stray::select(
          stray::recv_case(
              inbox, [&](std::optional<message_syncthing5795*> m) { msg = m.value_or(nullptr); }),
          stray::recv_case(closed));
      if (i == 1) break;
      if (auto* cc = dynamic_cast<ClusterConfig_syncthing5795*>(msg)) {
        receiver->ClusterConfig(cc);
      } else {
        break;
      }
    }
    dispatcherLoopStopped.close();  // Go: deferred
  }

  void Close() override {
    closeOnce.call([this] {
      closed.close();
      (void)dispatcherLoopStopped.recv();
    });
  }
};

void Syncthing5795() {
  stray::go([] {  // G1
    auto* m = new TestModel_syncthing5795;
    auto* c = new rawConnection_syncthing5795;
    c->dispatcherLoopStopped = stray::make_chan<Unit>();
    c->closed = stray::make_chan<Unit>();
    c->inbox = stray::make_chan<message_syncthing5795*>();
    c->receiver = m;
    m->ccFn = [c] { c->Close(); };
    c->Start();
    c->inbox.send(new ClusterConfig_syncthing5795);
    (void)c->dispatcherLoopStopped.recv();
  });
}
constexpr const char* kLoop =
    R"(rawConnection_syncthing5795::dispatcherLoop(\([^{]*\))? \[chan receive\])";
constexpr const char* kFunc2 =
    R"(Syncthing5795\([^{]*\)::\{lambda[^}]*\}::operator\(\)[^{]*.* \[chan receive\])";
LEAK_CASE({.name = "Syncthing5795",
           .kind = Kind::strict,
           .run = Syncthing5795,
           .expected = {kLoop, kFunc2}});

}  // namespace
}  // namespace leakcases
