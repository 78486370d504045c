// stray/go.h — goroutines and the scheduler (Go: the go statement, package
// runtime).
//
// A goroutine is a function running on its own stack, scheduled M:N onto
// procs() worker threads. Goroutines are cooperative: one runs until it
// blocks in a stray primitive, calls yield(), or returns. There is no
// preemption; a goroutine that loops forever without blocking keeps its
// worker thread (the other procs()-1 workers keep running the rest).
//
// Where the goroutine's function lives: go() moves f and args onto the top of
// the new goroutine's own stack, never into malloc memory. The leak detector
// relies on this: a channel handle captured only by a blocked goroutine is
// visible only from that goroutine's stack.
//
// Stacks: every goroutine gets a fixed-size stack (default 256 KiB, env
// STRAY_STACK_SIZE in bytes, or per spawn with GoOptions::stack_size; sizes
// round up to a power of two, minimum 16 KiB). Only touched pages use memory.
// Stacks do not grow: overflowing one is detected at the next context switch
// (a zero-filled canary at the low end) and stops the program with a message
// naming the goroutine.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <tuple>
#include <type_traits>
#include <utility>

#include "stray/detail/runtime.h"

// The public API: exported from libstray.so, whose other symbols are hidden.
#pragma GCC visibility push(default)

namespace stray {

// Thrown by a leak reclaim (stray::reclaim_leaked, stray/pprof.h) from the
// call a leaked goroutine is blocked in, so that its stack unwinds: its
// destructors run, and the goroutine ends quietly when the exception
// leaves its function (any other escaping exception is a panic). what()
// names the goroutine and what it waited for. A goroutine may catch it
// and go on; if it blocks for good again, the next pass finds it again.
class goroutine_leaked : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Per-spawn options (no Go counterpart: Go stacks grow).
struct GoOptions {
  std::size_t stack_size = 0;  // bytes; 0 = the default (STRAY_STACK_SIZE or 256 KiB)
};

namespace detail {

template <class Fn, class Args>
struct Closure {
  Fn fn;
  Args args;

  static void run(void* self) {
    auto* c = static_cast<Closure*>(self);
    // Only goroutine_leaked is caught here: for any other exception the
    // search finds no handler and the panic report sees the throwing
    // frames still in place (src/runtime/panic.cc).
    try {
      std::apply(std::move(c->fn), std::move(c->args));
    } catch (const goroutine_leaked&) {
      // Reclaimed: its frames are unwound; its captures go below.
    }
    detail::keep_frame();
    c->~Closure();
  }
};

template <class F, class... A>
void spawn(const GoOptions& opt, const void* create_pc, F&& f, A&&... args) {
  using C = Closure<std::decay_t<F>, std::tuple<std::decay_t<A>...>>;
  Spawn s = spawn_prepare(opt.stack_size, sizeof(C), alignof(C));
  try {
    ::new (s.closure) C{std::forward<F>(f), {std::forward<A>(args)...}};
  } catch (...) {
    spawn_cancel(s);
    throw;
  }
  spawn_start(s, &C::run, create_pc);
}

}  // namespace detail

// Starts f(args...) in a new goroutine (Go: `go f(args)`). f and args are
// decay-copied (moved when given rvalues) at the call, as Go evaluates the
// arguments of a go statement before it returns. The new goroutine is
// runnable when go() returns; it may already be running on another proc.
// Callable from goroutines and from plain threads. The call site is recorded
// as the goroutine's creation site ("created by ... in goroutine N").
template <class F, class... A>
  requires(!std::is_same_v<std::decay_t<F>, GoOptions>)
[[gnu::noinline]] void go(F&& f, A&&... args) {
  detail::spawn(GoOptions{}, __builtin_return_address(0), std::forward<F>(f),
                std::forward<A>(args)...);
}

// go() with options, e.g. go(GoOptions{.stack_size = 1 << 20}, f).
template <class F, class... A>
[[gnu::noinline]] void go(const GoOptions& opt, F&& f, A&&... args) {
  detail::spawn(opt, __builtin_return_address(0), std::forward<F>(f),
                std::forward<A>(args)...);
}

// Go: runtime.Gosched. Puts the calling goroutine at the back of the global
// run queue and runs others; on a plain thread, std::this_thread::yield().
void yield();

// The calling goroutine's id (ids start at 1 and are never reused); 0 on a
// thread that is not a goroutine. Go exposes this only in stack dumps.
std::uint64_t goroutine_id();

// Go: runtime.GOMAXPROCS. procs() is the number of processors running
// goroutines in parallel: initially the number of hardware threads, or
// STRAY_PROCS if set. set_procs(n) changes it at run time (1 <= n <= 256,
// otherwise throws std::invalid_argument); a shrink takes effect on each
// surplus processor when its current goroutine next blocks or yields.
void set_procs(int n);
int procs();

// Go: runtime.NumGoroutine. Goroutines that exist now: runnable, running,
// blocked and leaked ones; plain threads are not counted.
int num_goroutine();

}  // namespace stray

#pragma GCC visibility pop
