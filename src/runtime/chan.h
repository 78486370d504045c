// chan.h — the channel object (Go: hchan in chan.go), shared by chan.cc and
// select.cc.
//
// An hchan lives in the runtime arena, its buffer right behind it. The
// public Chan<T> handle holds a counted reference.
//
// Invariants (all fields but refs and the immutable ones are guarded by lock):
// * At least one of sendq and recvq is empty, except for an unbuffered
//   channel with a single goroutine blocked on both sides of it in a select
//   (then both queues hold that goroutine's sudogs; the select cannot
//   complete with itself).
// * Buffered channel: qcount > 0 implies recvq is empty; qcount < dataqsiz
//   implies sendq is empty.
// * A sudog on a queue belongs to a G that is parked or about to park (it
//   parks before the lock is released: see gopark's unlockf).
// * The buffer slots [recvx, recvx+qcount) mod dataqsiz hold constructed
//   values; all others are raw storage.
// * closed never goes back to false.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "runtime/g.h"
#include "runtime/lock.h"
#include "stray/detail/runtime.h"

namespace stray::detail {

struct waitq {
  rt::sudog* first = nullptr;
  rt::sudog* last = nullptr;

  void enqueue(rt::sudog* sg);
  // Removes and returns the first sudog whose G can still be woken: a
  // select's sudog is skipped if another of its cases already won.
  rt::sudog* dequeue();
  // Unlinks sg if it is still queued (select's pass 3: dequeue may have
  // unlinked it already while skipping it).
  void remove(rt::sudog* sg);
  bool contains(const rt::sudog* sg) const;
};

// hchan::magic: the first word of every live channel object, so the leak
// detector can tell a channel from other arena objects (a G, a sudog, a
// timer). Odd, so never a pointer; freeing the object overwrites it.
constexpr uint64_t kChanMagic = 0x6e616863'79617273 | 1;  // "strayhcan"

struct hchan {
  const uint64_t magic = kChanMagic;
  rt::Lock lock;
  bool closed GUARDED_BY(lock) = false;
  std::size_t qcount GUARDED_BY(lock) = 0;  // values in the buffer
  std::size_t sendx GUARDED_BY(lock) = 0;   // next slot to fill
  std::size_t recvx GUARDED_BY(lock) = 0;   // next slot to take
  waitq recvq GUARDED_BY(lock);
  waitq sendq GUARDED_BY(lock);

  // Immutable after creation.
  const ElemOps* ops;
  std::size_t dataqsiz;  // capacity
  char* buf;             // dataqsiz slots of ops->size bytes, aligned to ops->align

  std::atomic<std::ptrdiff_t> refs{1};  // Chan<T> handles

  char* slot(std::size_t i) const { return buf + i * ops->size; }
};

// The buffered values' storage: the ring's slots recvx .. recvx+qcount as at
// most two byte ranges (it wraps), written to out; returns how many. Used
// by chan_release to destroy them and by the leak detector to scan them.
// Called with c->lock held, or with the world stopped.
struct ByteRange {
  char* lo;
  char* hi;
};
inline int chan_buffered(const hchan* c, ByteRange out[2]) NO_THREAD_SAFETY_ANALYSIS {
  std::size_t count = c->qcount < c->dataqsiz ? c->qcount : c->dataqsiz;
  if (count == 0 || c->ops->size == 0) return 0;
  std::size_t first = c->recvx, head = count < c->dataqsiz - first ? count : c->dataqsiz - first;
  out[0] = {c->slot(first), c->slot(first + head)};
  if (head == count) return 1;
  out[1] = {c->slot(0), c->slot(count - head)};
  return 2;
}

// Moves a value of the channel's type from src into raw storage dst and
// destroys the source.
// Trivial values: fixed-size copies for the common word sizes, so the
// compiler emits a move instead of a call to memcpy.
inline void elem_copy(const ElemOps* ops, void* dst, const void* src) {
  switch (ops->size) {
    case 8: __builtin_memcpy(dst, src, 8); break;
    case 4: __builtin_memcpy(dst, src, 4); break;
    case 1: __builtin_memcpy(dst, src, 1); break;
    default: __builtin_memcpy(dst, src, ops->size);
  }
}

inline void elem_move(const ElemOps* ops, void* dst, void* src) {
  if (ops->trivial) {
    elem_copy(ops, dst, src);
  } else {
    ops->move_construct(dst, src);
    ops->destroy(src);
  }
}

// Moves a value from src into raw storage dst, leaving src constructed
// (moved-from): the sender's own parameter is destroyed by its owner.
inline void elem_move_keep(const ElemOps* ops, void* dst, void* src) {
  if (ops->trivial) elem_copy(ops, dst, src);
  else ops->move_construct(dst, src);
}

// The direct hand-offs and buffer steps shared by chan.cc and select.cc, each
// called with c->lock held. The hand-offs return the G to ready, which the
// caller readies (rt::goready) after releasing its locks.
// send_locked: receiver sg was dequeued; give it *ep.
rt::G* send_locked(hchan* c, rt::sudog* sg, void* ep) REQUIRES(c->lock);
// recv_locked: sender sg was dequeued (buffer full or unbuffered); take into ep.
rt::G* recv_locked(hchan* c, rt::sudog* sg, void* ep) REQUIRES(c->lock);
// Buffer steps.
void bufsend_locked(hchan* c, void* ep) REQUIRES(c->lock);
void bufrecv_locked(hchan* c, void* ep) REQUIRES(c->lock);

// Takes sg off its channel's queue, if it is still on one (a reclaim,
// src/runtime/reclaim.cc). Takes sg->c->lock.
void chan_detach(rt::sudog* sg);

}  // namespace stray::detail
