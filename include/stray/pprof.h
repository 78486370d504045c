// stray/pprof.h — goroutine profiles and the goroutine leak detector
// (Go: runtime/pprof's "goroutine" and Go 1.26's "goroutineleak" profiles).
//
// A leak pass stops every thread of the process, finds which blocked
// goroutines nothing reachable can ever wake — like a garbage collector,
// treating goroutine stacks and channels as objects and everything else as
// roots — marks them leaked and reports them with their stacks and
// creation sites. Passes run only when asked for: by count() or write_to()
// on the "goroutineleak" profile, or by detect_leaks().
//
// Guarantee: a goroutine reported leaked can never run again (no false
// positives). A leaked goroutine stays parked, keeps its stack and is
// reported by every later pass; num_goroutine() still counts it — unless
// the program reclaims it (reclaim_leaked, below: opt-in).
//
// Blind spots (false negatives: real leaks not reported): a channel or
// sync object reachable from a global variable, from memory the heap
// index does not describe (mmap'd or custom-arena memory, every heap block
// when STRAY_HEAP_TRACKING=0 or in sanitizer builds; docs/heap.md), from a
// goroutine that runs forever without blocking, or from a plain thread;
// stale copies of a handle left in dead memory. Hidden pointers (XOR-ed, compressed,
// kept only in the kernel such as epoll_data, or written to a file) are the
// one way to get a false positive: keep such objects reachable some other
// way.
//
// Stopping the world uses a real-time signal (STRAY_STOP_SIGNAL, default
// SIGRTMIN+4): a thread that blocks it or does not answer within
// STRAY_STOP_TIMEOUT_MS (default 1000) makes the pass fail with PassError
// naming the thread, and nothing is reported. Like Go's preemption signal,
// it makes system calls such as nanosleep, epoll_wait, poll and select
// return EINTR in threads that were stopped.
//
// Snapshot passes (STRAY_LEAK_MODE; auto by default, see the README): the
// world may stay stopped only while the process forks, and a short-lived
// child process (made with clone(2): no pthread_atfork handler runs, no
// SIGCHLD is sent, and it is reaped before the pass returns) marks the
// copy-on-write image; last_pass() says which mode ran. A snapshot process
// that dies makes the pass fail with PassError naming the signal.
//
// Thread safety: every function here may be called from goroutines and
// threads concurrently; passes run one at a time.
#pragma once

#include <chrono>
#include <cstdint>
#include <iosfwd>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

// The public API: exported from libstray.so, whose other symbols are hidden.
#pragma GCC visibility push(default)

namespace stray::pprof {

// A pass could not stop the world (or ran out of memory); what() says why.
class PassError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// One frame of a goroutine's stack, inlined calls expanded.
struct Frame {
  std::string function;  // demangled C++ name; "??" when unknown
  std::string file;      // source file (empty without debug info)
  int line = 0;
};

// A goroutine as a pass saw it (Go: one record of runtime.Stack(all)).
struct Goroutine {
  std::uint64_t id = 0;
  std::string state;        // "running", "runnable" or the wait reason ("chan send", ...)
  bool leaked = false;      // the state then ends in " (leaked)" in dumps
  std::chrono::nanoseconds waiting{0};  // how long it has been blocked
  std::vector<Frame> stack;  // innermost first; stray's own frames left out
  Frame created_by;          // the function and line of the go() call
  std::uint64_t parent_id = 0;  // 0: created by a plain thread
  std::uint64_t lock_holder = 0;  // blocked in Mutex::lock: the goroutine holding
                                  // it (0: unknown, or a plain thread)
};

// Go: pprof.Profile.
class Profile {
 public:
  explicit Profile(std::string name) : name_(std::move(name)) {}
  const std::string& name() const { return name_; }

  // Go: Profile.Count. "goroutine": live goroutines; "goroutineleak": runs a
  // leak pass and returns how many goroutines are leaked. Throws PassError.
  int count();

  // Go: Profile.WriteTo. debug=0: a gzipped profile.proto for `go tool
  // pprof` and continuous profilers: sample type <name>/count, period 1, one
  // sample per distinct stack with its count (leaked samples also carry a
  // "wait_reason" label), locations with inlined lines, functions,
  // mappings with build ids. debug=1: "<name> profile: total N", then one
  // entry per distinct stack, "count @ pc..." and
  // "#\tpc\tfunction+0xoff\tfile:line" lines. debug=2: every goroutine's
  // stack as in a Go panic dump, leaked ones as "[chan send (leaked)]". The
  // goroutineleak profile runs a pass and lists only leaked goroutines at
  // debug 0 and 1. Other debug values throw std::invalid_argument; PassError
  // if the world cannot be stopped.
  void write_to(std::ostream& out, int debug);

 private:
  std::string name_;
};

// Go: pprof.Lookup. "goroutine" or "goroutineleak"; nullptr otherwise.
Profile* lookup(std::string_view name);

// Runs a leak pass; returns the leaked goroutines (old and new), by id.
// Throws PassError.
std::vector<Goroutine> detect_leaks();

// Every live goroutine with its stack, by id (no leak pass).
std::vector<Goroutine> goroutines();

// What the last successful pass cost (all zero before the first).
struct PassStats {
  std::chrono::nanoseconds pause{0};  // how long the world was stopped
  std::chrono::nanoseconds total{0};  // the whole pass: stop, mark, every stack
                                      // (the leaked ones are unwound after the
                                      // world restarts: they cannot run again)
  std::string mode = "inplace";       // how it ran (STRAY_LEAK_MODE):
                                      // "snapshot" (marked in a forked copy of
                                      // the stopped process; the world was
                                      // stopped only for the fork) or
                                      // "inplace" (marked with the world stopped)
  std::string fallback;               // why a pass that could have run in a
                                      // snapshot ran in place ("" otherwise)
  std::uint64_t scanned_bytes = 0;    // memory read by the mark phase
  int goroutines = 0;                 // live goroutines it examined
  int leaked = 0;                     // leaked goroutines it reported
  int mark_workers = 0;               // threads that marked (STRAY_LEAK_WORKERS)
};
PassStats last_pass();

// What the debug server grants its clients (Go: http.Server's
// ReadHeaderTimeout, WriteTimeout and MaxHeaderBytes, and the cap of
// x/net/netutil.LimitListener). With the defaults, clients that trickle
// header bytes or connect and send nothing can neither keep the server from
// answering others nor take the host's file descriptors.
struct ServeLimits {
  // Connections open at once (each one file descriptor). Accepting one
  // more closes one at once: the open connection with the earliest
  // deadline among those whose request has not arrived or whose answer is
  // being sent (the one the server would drop soonest anyway), or the new
  // one, unread, if every open connection's request is being answered. A
  // new connection's request, when already sent, is read before the next
  // accept, so a flood of idle connections does not push it out.
  int max_connections = 64;
  // From accept to the end of the request head; then the connection is
  // closed without an answer. There is no keep-alive: every answer ends
  // its connection ("Connection: close").
  std::chrono::milliseconds read_header_timeout{3000};
  // From the answer being ready to its last byte sent; then the connection
  // is closed.
  std::chrono::milliseconds write_timeout{30000};
  // A larger request head (request line and headers) gets a 431.
  std::size_t max_header_bytes = 16 << 10;
};

// Go: net/http/pprof. An HTTP/1.1 server for the profiles, on its own OS
// threads (not goroutines), so it answers while every goroutine is stuck:
//   /debug/pprof/                         HTML index: each profile, its count, links
//   /debug/pprof                          302 to /debug/pprof/
//   /debug/pprof/goroutine?debug=N        N = 0 (default: gzipped profile.proto,
//   /debug/pprof/goroutineleak?debug=N        application/octet-stream with a
//                                             Content-Disposition filename), 1 or 2
//                                             (text/plain), as Profile::write_to.
// An unknown profile is a 404; a malformed or out-of-range debug value a 400
// with a one-line reason; a pass that cannot stop the world a 500 with
// PassError's reason. Other query parameters are ignored, as Go does.
// GET and HEAD only (others: 405); a malformed request: 400; a request head
// over ServeLimits::max_header_bytes: 431.
// While a server runs, the whole-program deadlock report stays silent (its
// threads could still act), as an HTTP server's goroutine keeps Go's quiet.
class DebugServer {
 public:
  DebugServer();  // not serving
  DebugServer(DebugServer&&) noexcept;
  DebugServer& operator=(DebugServer&&) noexcept;
  ~DebugServer();  // stop()

  // Stops accepting and closes the connections whose request has not
  // arrived; answers the requests that have (each client gets
  // ServeLimits::write_timeout to take its answer); joins the threads.
  // Idempotent.
  void stop();
  bool serving() const;
  // The bound address ("127.0.0.1:6060"; the real port when 0 was asked).
  std::string address() const;
  int port() const;

 private:
  struct Impl;
  explicit DebugServer(std::unique_ptr<Impl> impl);
  friend DebugServer serve(std::string_view addr, const ServeLimits& limits);
  std::unique_ptr<Impl> impl_;
};

// Starts serving on addr, "host:port" (port 0: any free port). Binds to
// loopback unless told otherwise. Throws std::invalid_argument for a
// malformed address or a limit that is not positive, and std::runtime_error
// if it cannot bind.
DebugServer serve(std::string_view addr = "127.0.0.1:6060", const ServeLimits& limits = {});

}  // namespace stray::pprof

namespace stray {

// Reclaim (opt-in; Go keeps leaked goroutines forever, the Golf paper
// recovered them): resumes every goroutine a pass has proved leaked by
// throwing goroutine_leaked (stray/go.h) from the call it blocks in, so its
// destructors run, its stack goes back to the pool and num_goroutine()
// drops. Returns how many it resumed or readied to resume.
// * Blocked on a channel (send, receive, select, a nil channel): resumed
//   at once. Every one of them is first taken off its channels' queues, so
//   what another does while unwinding (a close, a send in a destructor)
//   cannot reach it.
// * Blocked on a Mutex, RWMutex, WaitGroup or Cond: left queued, and
//   resumed when what it waits for is released — by the unwinding of the
//   group it leaked with (a std::lock_guard releasing the Mutex) — so none
//   of a group is resumed while another still holds it up. It then
//   completes its acquisition, undoes it (unlocks; a Cond's wait returns
//   with its Mutex locked, as any exception from it would) and throws. If
//   nothing ever releases it, it stays parked and the next pass finds it
//   again.
// Soundness: a leaked goroutine can never be woken through stray's
// primitives, so resuming it changes nothing any other goroutine observes
// through them; what its destructors do is the program's own code (a
// std::lock_guard on the way out releases its Mutex, as with any
// exception) — hence opt-in. STRAY_RECLAIM=1 reclaims after every pass.
int reclaim_leaked();

}  // namespace stray

#pragma GCC visibility pop
