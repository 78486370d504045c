// etcd6857.go (etcd #6857): Status sends a reply channel to the node's run
// loop; when Stop makes the run loop return first, Status blocks in its
// send forever.
#include <optional>

#include "leakcase.h"

namespace leakcases {
namespace {

using stray::Unit;

struct Status_etcd6857 {};

struct node_etcd6857 {
  stray::Chan<stray::Chan<Status_etcd6857>> status;
  stray::Chan<Unit> stop;
  stray::Chan<Unit> done;

  Status_etcd6857 Status() {
    auto c = stray::make_chan<Status_etcd6857>();
    status.send(c);
    return c.recv().value_or(Status_etcd6857{});
  }

  void run() {
    for (;;) {
      bool stopped = false;
      stray::select(stray::recv_case(status,
                                     [](std::optional<stray::Chan<Status_etcd6857>> c) {
                                       if (c) c->send(Status_etcd6857{});
                                     }),
                    stray::recv_case(stop, [&] {
                      done.close();
                      stopped = true;
                    }));
      if (stopped) return;
    }
  }

  void Stop() {
    if (stray::select(stray::send_case(stop, Unit{}), stray::recv_case(done)) == 1) return;
    (void)done.recv();
  }
};

node_etcd6857* NewNode_etcd6857() {
  return new node_etcd6857{stray::make_chan<stray::Chan<Status_etcd6857>>(),
                           stray::make_chan<Unit>(), stray::make_chan<Unit>()};
}

void Etcd6857() {
  for (int i = 0; i <= 100; i++) {
    stray::go([] {
      node_etcd6857* n = NewNode_etcd6857();
      stray::go(&node_etcd6857::run, n);     // G1
      stray::go(&node_etcd6857::Status, n);  // G2
      stray::go(&node_etcd6857::Stop, n);    // G3
    });
  }
}

constexpr const char* kG2 = R"(node_etcd6857::Status\(\)[^:]* \[chan send\])";

LEAK_CASE({.name = "Etcd6857",
           .kind = Kind::flaky,
           .run = Etcd6857,
           .expected = {kG2},
           .settle = std::chrono::milliseconds(100)});

}  // namespace
}  // namespace leakcases
