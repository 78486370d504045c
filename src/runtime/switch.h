// switch.h — switching between execution contexts (a goroutine and its
// worker's scheduler loop).
//
// Built on Boost.Context's fcontext (jump_fcontext/make_fcontext): a few
// instructions, maintained for x86-64, aarch64 and more, and it stores the
// suspended context's callee-saved registers on that context's own stack
// just above the saved stack pointer, so a scan of a parked goroutine's stack
// from its saved pointer upwards sees every register it had.
//
// The sanitizers are told about every switch (ASan's start/finish_switch_fiber,
// TSan's fibers); that is the only place they appear.
//
// Protocol: ctx_switch(from, to, payload) suspends the running context into
// `from` and resumes `to`, which receives `payload` as the return value of its
// own earlier ctx_switch (or as the argument of its entry function). A
// context is resumed at most once per suspension.
#pragma once

#include <cstddef>
#include <cstdint>

namespace stray::rt {

struct Context {
  void* fctx = nullptr;  // fcontext of the suspended context
  // Sanitizer state (unused fields cost nothing in normal builds' logic).
  void* tsan_fiber = nullptr;
  void* asan_fake_stack = nullptr;
  const void* stack_bottom = nullptr;  // lowest address of the context's stack
  std::size_t stack_size = 0;
  void (*entry)(void*) = nullptr;  // set by ctx_make until the first switch in
};

// Prepares `c` to run entry(payload) on the stack [lo, top) when first
// switched to. entry must never return.
void ctx_make(Context* c, char* lo, char* top, void (*entry)(void* payload));

// The return address at the bottom of every context's stack, where
// Boost.Context's start-up code called the entry: code without unwind
// information, so a traceback stops there rather than have the unwinder
// search for it (a failed search costs it a dozen system calls). 0 until
// a context has started.
uintptr_t ctx_base_return();

// The calling thread's own context (a worker's scheduler stack).
void ctx_init_thread(Context* c);

// Suspends into `from`, resumes `to`. Returns the payload of whoever resumes
// `from` later. exiting=true: `from` is never resumed again.
void* ctx_switch(Context* from, Context* to, void* payload, bool exiting = false);

// Releases sanitizer state of a context that will never run again; called
// from another context.
void ctx_destroy(Context* c);

}  // namespace stray::rt
