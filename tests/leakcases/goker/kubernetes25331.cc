// kubernetes25331.cc — GoKer Kubernetes25331 (kubernetes/kubernetes#25331;
// Go: testgoroutineleakprofile/goker/kubernetes25331.go). Strict.
//
// run (G1) selects on errChan and the context; Stop (G2) sends an error and
// then cancels. run takes the error, cancels (the call the fix removed) and
// sends its result on resultChan, which nobody receives.
#include <chrono>
#include <optional>
#include <string>

#include "leakcase.h"

namespace leakcases {
namespace {

using namespace std::chrono_literals;

struct watchChan_kubernetes25331 {
  stray::Context ctx;
  stray::CancelFunc cancel;
  stray::Chan<bool> resultChan;
  stray::Chan<std::string> errChan;  // Go: chan error

  void Stop() {
    errChan.send("Error");
    cancel();
  }

  void run() {
    std::optional<std::string> err;
    int i = stray::select(
        stray::recv_case(errChan, [&](std::optional<std::string> e) { err = std::move(e); }),
        stray::recv_case(ctx.done()));
    if (i == 0) {
      bool errResult = !err->empty();
      cancel();  // removed in the fix
      resultChan.send(errResult);
    }
  }
};

watchChan_kubernetes25331* NewWatchChan_kubernetes25331() {
  auto [ctx, cancel] = stray::with_cancel(stray::background());
  return new watchChan_kubernetes25331{ctx, cancel, stray::make_chan<bool>(),
                                       stray::make_chan<std::string>()};
}

void Kubernetes25331() {
  stray::go([] {
    watchChan_kubernetes25331* wc = NewWatchChan_kubernetes25331();
    stray::go(&watchChan_kubernetes25331::run, wc);   // G1
    stray::go(&watchChan_kubernetes25331::Stop, wc);  // G2
  });
}
constexpr const char* kRun = R"(watchChan_kubernetes25331::run(\([^{]*\))? \[chan send\])";
LEAK_CASE({.name = "Kubernetes25331",
           .kind = Kind::strict,
           .run = Kubernetes25331,
           .expected = {kRun}});

}  // namespace
}  // namespace leakcases
