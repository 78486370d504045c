// cockroach13197.go (CockroachDB #13197): DB.begin starts a goroutine that
// waits for the transaction's context to be cancelled; the caller drops
// the transaction without Rollback, so nothing ever cancels it.
#include "leakcase.h"

namespace leakcases {
namespace {

struct Tx_cockroach13197 {
  stray::CancelFunc cancel;
  stray::Context ctx;

  void awaitDone() { (void)ctx.done().recv(); }
  void Rollback() { rollback(); }
  void rollback() { close(); }
  void close() { cancel(); }
};

struct DB_cockroach13197 {
  Tx_cockroach13197* begin(const stray::Context& parent) {
    auto [ctx, cancel] = stray::with_cancel(parent);
    auto* tx = new Tx_cockroach13197{cancel, ctx};
    stray::go(&Tx_cockroach13197::awaitDone, tx);  // G2
    return tx;
  }
};

void Cockroach13197() {
  auto* db = new DB_cockroach13197;
  db->begin(stray::background());  // G1
}

constexpr const char* kG2 = R"(Tx_cockroach13197::awaitDone\(\)[^:]* \[chan receive\])";

LEAK_CASE({.name = "Cockroach13197",
           .kind = Kind::strict,
           .run = Cockroach13197,
           .expected = {kG2}});

}  // namespace
}  // namespace leakcases
