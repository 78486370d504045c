// arena.h — the runtime arena: memory for goroutine descriptors, waiter
// records (sudogs) and channel objects with their buffers.
//
// The arena is one reserved MAP_NORESERVE region, separate from malloc, so
// the leak detector can tell runtime memory from user memory and never scans
// it conservatively: it understands each runtime object and follows only what
// is meant (a channel's buffered values, not its wait queues).
//
// Layout: 64 KiB chunks. A small object (<= 32 KiB) comes from a chunk
// dedicated to its size class; a large one takes a run of whole chunks. The
// chunk table records, for every chunk, its size class or the length of the
// large run it starts, so arena_free needs no size and a pointer can be
// mapped to the start of its object.
//
// Invariants: objects are 16-byte aligned (large ones 64 KiB aligned); memory
// is zero when first handed out, not when reused; freed large runs are
// returned to the OS (MADV_DONTNEED).
//
// Concurrency: each thread caches free objects per size class (no lock);
// class lists and the chunk table are guarded by their locks (lock.h order:
// innermost).
#pragma once

#include <cstddef>

#include "runtime/mem.h"

namespace stray::rt {

// Largest request arena_alloc accepts.
std::size_t arena_max_alloc();

// The arena's address range.
Range arena_range();

// Runtime memory of at least `size` bytes. Aborts with a message when the
// arena is exhausted (callers check user-controlled sizes against
// arena_max_alloc first).
void* arena_alloc(std::size_t size);
void arena_free(void* p);

// For the leak detector, with the world stopped (no lock taken): the start
// of the allocated-or-cached object containing p, or null if p is outside
// the arena or in memory no object was ever carved from. May name a freed
// object: callers check the object's own tag (see hchan::magic).
void* arena_find(const void* p);

template <class T, class... A>
T* arena_new(A&&... args) {
  return ::new (arena_alloc(sizeof(T))) T(static_cast<A&&>(args)...);
}
template <class T>
void arena_delete(T* p) {
  p->~T();
  arena_free(p);
}

}  // namespace stray::rt
