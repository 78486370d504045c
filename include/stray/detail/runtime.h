// stray/detail/runtime.h — the type-erased runtime entry points behind the
// public templates. Not part of the public API: names here may change.
//
// The templates in go.h, chan.h and select.h reduce every typed operation to
// one of these calls, so the runtime itself (src/) is compiled once and knows
// element types only through an ElemOps table.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <new>
#include <type_traits>
#include <utility>

// The public API: exported from libstray.so, whose other symbols are hidden.
#pragma GCC visibility push(default)

namespace stray::detail {

// Called right after a blocking runtime call in the public inline functions
// (and after a goroutine's function returns): the empty asm must run after
// the call, so the compiler cannot turn the call into a tail call, which
// would replace the user's frame and lose it from leak reports and dumps.
inline void keep_frame() { asm volatile(""); }


// ---- goroutines (src/runtime/proc.cc) ----

// A goroutine under construction: its descriptor has a stack, and `closure`
// points at `closure_size` bytes at the top of that stack where the caller
// constructs the goroutine's function object.
struct Spawn {
  void* g;
  void* closure;
};

// Reserves a descriptor and a stack of at least `stack_size` bytes (0: the
// default) with room for a closure of the given size and alignment at its top.
// The descriptor is "idle" until spawn_start or spawn_cancel: a leak pass
// meanwhile scans its whole stack (the closure being built may hold the only
// reference to a channel).
Spawn spawn_prepare(std::size_t stack_size, std::size_t closure_size,
                    std::size_t closure_align);

// Gives back a prepared goroutine whose closure could not be built (its
// constructor threw).
void spawn_cancel(Spawn s) noexcept;

// Makes the prepared goroutine runnable. `run` is called on the goroutine's
// stack with the closure pointer; it runs and destroys the closure.
// `create_pc` is the return address at the go() call site.
void spawn_start(Spawn s, void (*run)(void*), const void* create_pc);

// ---- channels (src/runtime/chan.cc) ----

struct hchan;  // opaque; lives in the runtime arena

// How the runtime moves and destroys values of the element type.
struct ElemOps {
  std::size_t size;
  std::size_t align;
  bool trivial;                                  // memcpy is a move; no destructor
  void (*move_construct)(void* dst, void* src);  // dst is raw storage
  void (*destroy)(void* p);
};

template <class T>
inline constexpr ElemOps elem_ops_for = {
    sizeof(T),
    alignof(T),
    std::is_trivially_copyable_v<T> && std::is_trivially_destructible_v<T>,
    [](void* dst, void* src) { ::new (dst) T(std::move(*static_cast<T*>(src))); },
    [](void* p) { static_cast<T*>(p)->~T(); },
};

hchan* chan_make(const ElemOps* ops, std::size_t cap);  // panics on a too-large cap
void chan_retain(hchan* c) noexcept;
void chan_release(hchan* c) noexcept;
std::size_t chan_len(const hchan* c) noexcept;
std::size_t chan_cap(const hchan* c) noexcept;
void chan_close(hchan* c);

// Send: moves *elem into the channel. block=false: returns false instead of
// blocking. Throws panic on a closed channel.
bool chan_send(hchan* c, void* elem, bool block);

// Receive into raw storage `elem`. Returns {selected, received}: selected is
// false only for a non-blocking call that would block; received is false when
// the channel is closed and drained (elem left unconstructed).
struct RecvResult {
  bool selected;
  bool received;
};
RecvResult chan_recv(hchan* c, void* elem, bool block);

// ---- select (src/runtime/select.cc) ----

struct SelectCase {
  hchan* c;    // nullptr: a nil channel, never ready
  void* elem;  // send: the value to move; receive: raw storage
  bool is_send;
};

// Go's selectgo. Returns the index of the case that fired, or -1 when
// block=false and no case was ready. *received tells a receive case whether a
// value was constructed in its storage. ncases == 0 && block parks forever
// with wait reason "select (no cases)".
int selectgo(SelectCase* cases, int ncases, bool block, bool* received);

// ---- sync (src/runtime/sema.cc, src/runtime/sync.cc) ----

// What a goroutine blocked in a sync primitive is shown waiting for.
enum class SyncWait : uint8_t { mutex_lock, rwmutex_rlock, rwmutex_lock, waitgroup_wait, cond_wait };

// Go's runtime_Semacquire / runtime_Semrelease on a counter inside a sync
// object (see src/runtime/sema.h).
void sema_acquire(std::atomic<uint32_t>* addr, bool lifo, SyncWait why);
void sema_release(std::atomic<uint32_t>* addr, bool handoff);
void sema_release_n(std::atomic<uint32_t>* addr, uint32_t n);

// Go's notifyList for Cond: tickets in the Cond, waiters in the runtime.
uint32_t notify_add(std::atomic<uint32_t>* wait);
void notify_wait(std::atomic<uint32_t>* notify, uint32_t ticket);
void notify_one(std::atomic<uint32_t>* wait, std::atomic<uint32_t>* notify);
void notify_all(std::atomic<uint32_t>* wait, std::atomic<uint32_t>* notify);

}  // namespace stray::detail

#pragma GCC visibility pop
