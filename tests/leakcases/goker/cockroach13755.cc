// cockroach13755.cc — GoKer Cockroach13755 (cockroachdb/cockroach#13755;
// Go: testgoroutineleakprofile/goker/cockroach13755.go). Strict.
//
// initContextClose derives a cancellable context for the rows and starts
// awaitDone (G2), which waits for that context to be cancelled; the caller
// drops the rows without closing them, so nothing ever cancels it. The
// cancel function lives in the rows object, reachable only from G2.
#include <system_error>
#include <tuple>

#include "leakcase.h"

namespace leakcases {
namespace {

struct Rows_cockroach13755 {
  stray::CancelFunc cancel;

  void initContextClose(stray::Context ctx) {
    std::tie(ctx, cancel) = stray::with_cancel(ctx);
    stray::go(&Rows_cockroach13755::awaitDone, this, ctx);  // G2
  }

  void awaitDone(stray::Context ctx) {
    (void)ctx.done().recv();
    close(ctx.err());
  }

  void close(std::error_code err) { cancel(); }
};

void Cockroach13755() {
  auto* rs = new Rows_cockroach13755{};
  rs->initContextClose(stray::background());  // G1
}

constexpr const char* kG2 = R"(Rows_cockroach13755::awaitDone(\([^{]*\))? \[chan receive\])";

LEAK_CASE(
    {.name = "Cockroach13755", .kind = Kind::strict, .run = Cockroach13755, .expected = {kG2}});

}  // namespace
}  // namespace leakcases
