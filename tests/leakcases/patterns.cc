// patterns.cc — the corpus's common production patterns
// (../shared/leak-cases.md "Common production patterns"; Go:
// testgoroutineleakprofile/commonpatterns.go, after "Unveiling and
// Vanquishing Goroutine Leaks in Enterprise Microservices", CGO 2024).
// All strict.
//
// Go's `any` is std::any, its `error` a std::exception_ptr (nullptr: nil;
// fmt.Errorf's error is a heap object, as make_exception_ptr's), its
// slices std::vector. Closures are lambdas; where one function starts
// goroutines of which only some may leak, each goroutine body is a named
// function instead (the symbolizer prints every lambda of a function as the
// same `{lambda}`), with Go's closure name beside it.

#include <any>
#include <chrono>
#include <exception>
#include <stdexcept>
#include <vector>

#include "leakcase.h"

namespace leakcases {
namespace {

using stray::go;
using stray::make_chan;

using Error = std::exception_ptr;
Error errorf(const char* msg) { return std::make_exception_ptr(std::runtime_error(msg)); }

// --- NoCloseRange: workers range over a channel nobody closes. ---

// Sends each item to one of `workers` goroutines. With no workers the
// sender leaks; the workers leak once the items run out.
void noCloseRange(std::vector<std::any> list, int workers) {
  auto ch = make_chan<std::any>();
  for (int i = 0; i < workers; i++) {
    go([ch] {
      for (std::any item : ch) (void)item;  // process the item
    });
  }
  for (std::any& item : list) ch.send(item);
  // ch is never closed.
}

void NoCloseRange() {
  go(noCloseRange, std::vector<std::any>{1, 2, 3}, 0);
  go(noCloseRange, std::vector<std::any>{1, 2, 3}, 3);
}
LEAK_CASE({.name = "NoCloseRange", .kind = Kind::strict, .run = NoCloseRange,
           .expected = {ENTRY(R"(noCloseRange\([^)]*\) \[chan send\]$)"),
                        ENTRY(R"(noCloseRange\([^)]*\))") LAMBDA R"( \[chan receive\]$)"},
           .settle = std::chrono::milliseconds(100)});

// --- MethodContractViolation: a worker started and never stopped. ---

// A worker may be started any number of times and must be stopped once;
// a worker never stopped leaks the goroutine start() made.
struct Worker {
  stray::Chan<std::any> ch, done;

  // Go: func (w worker) Start(), a value receiver the closure copies.
  void start() const {
    go([w = *this] {
      for (;;)
        if (stray::select(stray::recv_case(w.ch), stray::recv_case(w.done)) == 1) return;  // shut down
    });
  }
  void stop() const { done.close(); }
  void add_to_queue(std::any item) const { ch.send(std::move(item)); }
};

void workerLifecycle(std::vector<std::any> items) {
  Worker w{make_chan<std::any>(), make_chan<std::any>()};
  w.start();
  for (std::any& item : items) w.add_to_queue(item);
  stray::yield();
  // Returns without w.stop().
}

void MethodContractViolation() {
  workerLifecycle(std::vector<std::any>(10));
  stray::yield();
}
LEAK_CASE({.name = "MethodContractViolation", .kind = Kind::strict, .run = MethodContractViolation,
           .expected = {ENTRY(R"(Worker::start\(\)( const)?)") LAMBDA R"( \[select\]$)"}});

// --- DoubleSend: a missing return after sending the error. ---

void doubleSend(stray::Chan<std::any> ch, Error err) {
  if (err) {
    ch.send(std::any{});  // the error case sends nil...
    // ...and the return is missing here.
  }
  ch.send(stray::Unit{});  // the normal case, reached by the error case too
}

void DoubleSendNoError(stray::Chan<std::any> ch) { doubleSend(ch, nullptr); }            // Go: DoubleSend.func2
void DoubleSendError(stray::Chan<std::any> ch) { doubleSend(ch, errorf("error")); }  // Go: DoubleSend.func3
void DoubleSendErrorBuffered(stray::Chan<std::any> ch) {                          // Go: DoubleSend.func4
  doubleSend(ch, errorf("error"));
}

void DoubleSend() {
  auto ch = make_chan<std::any>();
  go(DoubleSendNoError, ch);
  (void)ch.recv();
  go(DoubleSendError, ch);
  (void)ch.recv();
  auto ch1 = make_chan<std::any>(1);  // room for the second send: no leak
  go(DoubleSendErrorBuffered, ch1);
  (void)ch1.recv();
}
LEAK_CASE({.name = "DoubleSend", .kind = Kind::strict, .run = DoubleSend,
           .expected = {ENTRY(R"(DoubleSendError\([^)]*\) \[chan send\]$)")}});

// --- EarlyReturn: the parent returns before receiving the result. ---

void earlyReturn(Error err) {
  auto ch = make_chan<std::any>();
  go([ch]() { ch.send(stray::Unit{}); });  // leaks if the parent returns early
  if (err) return;
  (void)ch.recv();
}

void EarlyReturn() { go(earlyReturn, errorf("error")); }
LEAK_CASE({.name = "EarlyReturn", .kind = Kind::strict, .run = EarlyReturn,
           .expected = {ENTRY(R"(earlyReturn\([^)]*\))") LAMBDA R"( \[chan send\]$)"}});

// --- NCastLeak: n senders, one receive. ---

// The first result wins; the other senders leak, and with no items the
// receiver does.
void nCastLeak(std::vector<std::any> items) {
  auto ch = make_chan<std::any>();
  for (std::size_t i = 0; i < items.size(); i++) go([ch]() { ch.send(stray::Unit{}); });
  (void)ch.recv();
}

void NCastLeakNone() { nCastLeak({}); }                        // Go: NCastLeak.func2
void NCastLeakFive() { nCastLeak(std::vector<std::any>(5)); }  // Go: NCastLeak.func3

void NCastLeak() {
  go(NCastLeakNone);
  go(NCastLeakFive);
}
LEAK_CASE({.name = "NCastLeak", .kind = Kind::strict, .run = NCastLeak,
           .expected = {ENTRY(R"(nCastLeak\([^)]*\))") LAMBDA R"( \[chan send\]$)",
                        ENTRY(R"(NCastLeakNone\(\) \[chan receive\]$)")}});

// --- Timeout: a cancelled context short-circuits the receive. ---

void timeout(stray::Context ctx) {
  auto ch = make_chan<std::any>();
  go([ch]() { ch.send(stray::Unit{}); });  // leaks when the parent took ctx.done()
  stray::select(stray::recv_case(ch), stray::recv_case(ctx.done()));
}

void Timeout() {
  auto [ctx, cancel] = stray::with_cancel(stray::background());
  cancel();
  for (int i = 0; i < 100; i++) go(timeout, ctx);
}
LEAK_CASE({.name = "Timeout", .kind = Kind::strict, .run = Timeout,
           .expected = {ENTRY(R"(timeout\([^)]*\))") LAMBDA R"( \[chan send\]$)"}});


}  // namespace
}  // namespace leakcases
