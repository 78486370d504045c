// micro.cc — the corpus's micro cases (../shared/leak-cases.md "Micro
// cases"; Go: testgoroutineleakprofile/simple.go). All strict: each leaks
// one goroutine (or 1000 copies of one) blocked in one primitive.
//
// Object layout follows the Go source: `&T{}`, `new(T)` and sync.NewCond
// are heap objects here (new), values declared in a goroutine
// (`var mu sync.Mutex`, `var wg sync.WaitGroup`) live on its stack. (Go's
// escape analysis moves those two values to the heap as well, because
// sync's semaphore calls leak their address; the cases are named and
// catalogued for a stack object, so they stay on the stack here.)
//
// Goroutine bodies are lambdas in the case function, as Go's closures
// (Name.func1 is `Name()::{lambda}::operator()`, Name.func1.1 the lambda
// inside it); the patterns are anchored on the whole entry so that a
// goroutine of the same case blocked elsewhere is not taken for another.
#include <thread>

#include "leakcase.h"

namespace leakcases {
namespace {

using stray::go;
using stray::make_chan;

void NilRecv() {
  go([] {
    stray::Chan<int> c;  // nil
    (void)c.recv();
  });
}
LEAK_CASE({.name = "NilRecv", .kind = Kind::strict, .run = NilRecv,
           .expected = {ENTRY(R"(NilRecv\(\))") LAMBDA R"( \[chan receive \(nil chan\)\]$)"}});

void NilSend() {
  go([] {
    stray::Chan<int> c;  // nil
    c.send(0);
  });
}
LEAK_CASE({.name = "NilSend", .kind = Kind::strict, .run = NilSend,
           .expected = {ENTRY(R"(NilSend\(\))") LAMBDA R"( \[chan send \(nil chan\)\]$)"}});

void SelectNoCases() {
  go([] { stray::select(); });
}
LEAK_CASE({.name = "SelectNoCases", .kind = Kind::strict, .run = SelectNoCases,
           .expected = {ENTRY(R"(SelectNoCases\(\))") LAMBDA R"( \[select \(no cases\)\]$)"}});

void ChanRecv() {
  go([] { (void)make_chan<int>().recv(); });
}
LEAK_CASE({.name = "ChanRecv", .kind = Kind::strict, .run = ChanRecv,
           .expected = {ENTRY(R"(ChanRecv\(\))") LAMBDA R"( \[chan receive\]$)"}});

void ChanSend() {
  go([] { make_chan<int>().send(0); });
}
LEAK_CASE({.name = "ChanSend", .kind = Kind::strict, .run = ChanSend,
           .expected = {ENTRY(R"(ChanSend\(\))") LAMBDA R"( \[chan send\]$)"}});

void Select() {
  go([] { stray::select(stray::send_case(make_chan<int>(), 0), stray::recv_case(make_chan<int>())); });
}
LEAK_CASE({.name = "Select", .kind = Kind::strict, .run = Select,
           .expected = {ENTRY(R"(Select\(\))") LAMBDA R"( \[select\]$)"}});

void WaitGroup() {
  go([] {
    stray::WaitGroup wg;
    wg.add(1);
    wg.wait();
  });
}
LEAK_CASE({.name = "WaitGroup", .kind = Kind::strict, .run = WaitGroup,
           .expected = {ENTRY(R"(WaitGroup\(\))") LAMBDA R"( \[sync\.WaitGroup\.Wait\]$)"}});

void MutexStack() {
  for (int i = 0; i < 1000; i++) {
    go([] {
      stray::Mutex mu;
      mu.lock();
      mu.lock();
    });
  }
}
LEAK_CASE({.name = "MutexStack", .kind = Kind::strict, .run = MutexStack,
           .expected = {ENTRY(R"(MutexStack\(\))") LAMBDA R"( \[sync\.Mutex\.Lock\]$)"}});

// Go: 1000 goroutines each make a heap Mutex and start an inner goroutine
// that locks it twice; the outer returns.
void MutexHeap() {
  for (int i = 0; i < 1000; i++) {
    go([] {
      auto* mu = new stray::Mutex;
      go([mu] {
        mu->lock();
        mu->lock();
      });
    });
  }
}
constexpr const char* kMutexHeapInner = ENTRY(R"(MutexHeap\(\))") LAMBDA LAMBDA R"( \[sync\.Mutex\.Lock\]$)";
LEAK_CASE({.name = "MutexHeap", .kind = Kind::strict, .run = MutexHeap, .expected = {kMutexHeapInner}});

// Go: cond := sync.NewCond(&sync.Mutex{}); both are heap objects.
void Cond() {
  go([] {
    auto* mu = new stray::Mutex;
    auto* cond = new stray::Cond(*mu);
    mu->lock();
    cond->wait();
  });
}
constexpr const char* kCond = ENTRY(R"(Cond\(\))") LAMBDA R"( \[sync\.Cond\.Wait\]$)";
LEAK_CASE({.name = "Cond", .kind = Kind::strict, .run = Cond, .expected = {kCond}});

// Go: mu := &sync.RWMutex{}, a heap object.
void RWMutexRLock() {
  go([] {
    auto* mu = new stray::RWMutex;
    mu->lock();
    mu->lock_shared();
  });
}
constexpr const char* kRWMutexRLock = ENTRY(R"(RWMutexRLock\(\))") LAMBDA R"( \[sync\.RWMutex\.RLock\]$)";
LEAK_CASE({.name = "RWMutexRLock", .kind = Kind::strict, .run = RWMutexRLock, .expected = {kRWMutexRLock}});

// Go: mu := &sync.RWMutex{}, a heap object. The second writer waits on the
// RWMutex's inner Mutex: either reason is accepted, as in Go.
void RWMutexLock() {
  go([] {
    auto* mu = new stray::RWMutex;
    mu->lock();
    mu->lock();
  });
}
constexpr const char* kRWMutexLock = ENTRY(R"(RWMutexLock\(\))") LAMBDA R"( \[sync\.(RW)?Mutex\.Lock\]$)";
LEAK_CASE({.name = "RWMutexLock", .kind = Kind::strict, .run = RWMutexLock, .expected = {kRWMutexLock}});

// A waits for B, B sends on a channel only A could receive from, after the
// wait. Go moves wg to the heap (the inner closure captures it by
// reference); ch is captured by value.
void Mixed() {
  go([] {
    auto ch = make_chan<int>();
    auto* wg = new stray::WaitGroup;
    wg->add(1);
    go([ch, wg] {
      ch.send(0);
      wg->done();
    });
    wg->wait();
    (void)ch.recv();
  });
}
constexpr const char* kMixedA = ENTRY(R"(Mixed\(\))") LAMBDA R"( \[sync\.WaitGroup\.Wait\]$)";
constexpr const char* kMixedB = ENTRY(R"(Mixed\(\))") LAMBDA LAMBDA R"( \[chan send\]$)";
LEAK_CASE({.name = "Mixed", .kind = Kind::strict, .run = Mixed, .expected = {kMixedA, kMixedB}});

stray::Chan<int> global_chan = make_chan<int>();

void NoLeakGlobal() {
  go([] { (void)global_chan.recv(); });
}
LEAK_CASE({.name = "NoLeakGlobal", .kind = Kind::strict, .run = NoLeakGlobal});

// Go's main goroutine blocks in select{} after starting a receiver on a
// channel it made, and a third goroutine writes the profile. Go never
// reports goroutine 1 blocked in select{} (runtime/mgc.go,
// findGoroutineLeaks) but still does not count its stack as live, so the
// receiver is reported.
//
// stray has no main goroutine: a program's main() is a plain thread, which
// is never reported (its stack is a root). So the case's "main" is a plain
// thread that makes the channel, starts the receiver (which alone holds
// the channel, as in the catalogue), and blocks in select() with no cases
// for good. The profile is written by the harness's goroutine once the
// thread says it is about to block; the process then exits (_exit) with the
// thread still blocked.
[[gnu::noinline]] void SelectNoCasesMainReceiver() {
  go([ch = make_chan<int>()] { (void)ch.recv(); });
}

// Go's stack maps tell its collector that main's ch is dead after the go
// statement. stray scans a blocked thread conservatively: the dead stack
// below its frames that select()'s frames reuse without writing, and its
// whole saved vector state. go() leaves copies of the handle and of the
// receiver's closure address in both (stale copies: a documented blind
// spot, not what this case is about): without the stack scrub the receiver
// was found in 2 runs of 5, without the registers' in 3 of 10. So the
// thread forgets them: it zeroes the stack below its frame and its
// caller-saved vector registers (not AVX-512's zmm16-31).
[[gnu::noinline]] void ForgetDeadCopies() {
  volatile unsigned char dead[16 << 10];
  for (std::size_t i = 0; i < sizeof dead; i++) dead[i] = 0;
#if defined(__x86_64__)
  // All of xmm/ymm are caller-saved: a call may clobber them, so no clobber
  // list is needed in this non-inlined function that holds none of its own.
  if (__builtin_cpu_supports("avx"))
    asm volatile("vzeroall");
  else
    asm volatile(
        "pxor %xmm0,%xmm0; pxor %xmm1,%xmm1; pxor %xmm2,%xmm2; pxor %xmm3,%xmm3\n"
        "pxor %xmm4,%xmm4; pxor %xmm5,%xmm5; pxor %xmm6,%xmm6; pxor %xmm7,%xmm7\n"
        "pxor %xmm8,%xmm8; pxor %xmm9,%xmm9; pxor %xmm10,%xmm10; pxor %xmm11,%xmm11\n"
        "pxor %xmm12,%xmm12; pxor %xmm13,%xmm13; pxor %xmm14,%xmm14; pxor %xmm15,%xmm15");
#elif defined(__aarch64__)
  // v0-v7 and v16-v31 are caller-saved (v8-v15's low halves are not).
  asm volatile(
      "movi v0.16b, #0; movi v1.16b, #0; movi v2.16b, #0; movi v3.16b, #0\n"
      "movi v4.16b, #0; movi v5.16b, #0; movi v6.16b, #0; movi v7.16b, #0\n"
      "movi v16.16b, #0; movi v17.16b, #0; movi v18.16b, #0; movi v19.16b, #0\n"
      "movi v20.16b, #0; movi v21.16b, #0; movi v22.16b, #0; movi v23.16b, #0\n"
      "movi v24.16b, #0; movi v25.16b, #0; movi v26.16b, #0; movi v27.16b, #0\n"
      "movi v28.16b, #0; movi v29.16b, #0; movi v30.16b, #0; movi v31.16b, #0");
#endif
}

void SelectNoCasesMainThread(stray::Chan<stray::Unit> ready) {
  SelectNoCasesMainReceiver();
  ForgetDeadCopies();
  ready.send({});
  stray::select();
}

void SelectNoCasesMain() {
  auto ready = make_chan<stray::Unit>(1);
  std::thread(SelectNoCasesMainThread, ready).detach();
  (void)ready.recv();
}
LEAK_CASE({.name = "SelectNoCasesMain", .kind = Kind::strict, .run = SelectNoCasesMain,
           .expected = {ENTRY(R"(SelectNoCasesMainReceiver\(\))") LAMBDA R"( \[chan receive\]$)"}});


}  // namespace
}  // namespace leakcases
