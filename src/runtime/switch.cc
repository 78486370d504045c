// switch.cc — context switches over Boost.Context fcontext (see switch.h).
#include "runtime/switch.h"

#include <boost/context/detail/fcontext.hpp>

#include <atomic>

namespace bctx = boost::context::detail;

#if defined(__SANITIZE_ADDRESS__)
#define STRAY_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define STRAY_ASAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define STRAY_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define STRAY_TSAN 1
#endif
#endif

#if STRAY_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif
#if STRAY_TSAN
#include <sanitizer/tsan_interface.h>
#endif

namespace stray::rt {
namespace {

// What travels with a jump: the suspended side's Context (so the resumed
// side can store the fcontext it receives) and the caller's payload.
struct Pack {
  Context* from;
  void* payload;
  void (*entry)(void*);  // first switch into a fresh context only
};

// Sanitizer hooks around a jump from `from` to `to`.
inline void before_jump(Context* from, Context* to, bool exiting) {
#if STRAY_ASAN
  __sanitizer_start_switch_fiber(exiting ? nullptr : &from->asan_fake_stack,
                                 to->stack_bottom, to->stack_size);
#endif
#if STRAY_TSAN
  __tsan_switch_to_fiber(to->tsan_fiber, 0);
#endif
  (void)from, (void)to, (void)exiting;
}

// After a jump lands in `self`; `prev` is the context that jumped here.
inline void after_jump(Context* self, Context* prev) {
#if STRAY_ASAN
  const void* bottom = nullptr;
  std::size_t size = 0;
  __sanitizer_finish_switch_fiber(self ? self->asan_fake_stack : nullptr, &bottom, &size);
  if (prev->stack_bottom == nullptr) {  // a thread's own stack: learn its bounds
    prev->stack_bottom = bottom;
    prev->stack_size = size;
  }
#endif
  (void)self, (void)prev;
}

inline void* landed(bctx::transfer_t t, Context* self) {
  auto* p = static_cast<Pack*>(t.data);
  p->from->fctx = t.fctx;
  after_jump(self, p->from);
  return p->payload;
}

std::atomic<uintptr_t> base_return{0};

void trampoline(bctx::transfer_t t) {
  // The same address on every context; written once, read by tracebacks.
  auto ra = reinterpret_cast<uintptr_t>(__builtin_return_address(0));
  if (base_return.load(std::memory_order_relaxed) != ra) base_return.store(ra, std::memory_order_relaxed);
  void (*entry)(void*) = static_cast<Pack*>(t.data)->entry;
  void* payload = landed(t, nullptr);
  entry(payload);
  __builtin_trap();  // entry must switch away for good, never return
}

}  // namespace

void ctx_make(Context* c, char* lo, char* top, void (*entry)(void*)) {
  // make_fcontext builds the initial frame just below `top`.
  c->fctx = bctx::make_fcontext(top, std::size_t(top - lo), trampoline);
  c->entry = entry;
  c->stack_bottom = lo;
  c->stack_size = std::size_t(top - lo);
  c->asan_fake_stack = nullptr;
#if STRAY_TSAN
  c->tsan_fiber = __tsan_create_fiber(0);
#endif
}

uintptr_t ctx_base_return() { return base_return.load(std::memory_order_relaxed); }

void ctx_init_thread(Context* c) {
  *c = Context{};
#if STRAY_TSAN
  c->tsan_fiber = __tsan_get_current_fiber();
#endif
}

void* ctx_switch(Context* from, Context* to, void* payload, bool exiting) {
  Pack pack{from, payload, to->entry};
  to->entry = nullptr;
  before_jump(from, to, exiting);
  bctx::transfer_t t = bctx::jump_fcontext(to->fctx, &pack);
  return landed(t, from);
}

void ctx_destroy(Context* c) {
#if STRAY_TSAN
  if (c->tsan_fiber) __tsan_destroy_fiber(c->tsan_fiber);
  c->tsan_fiber = nullptr;
#endif
  (void)c;
}

}  // namespace stray::rt
