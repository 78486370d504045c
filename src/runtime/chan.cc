// chan.cc — channel send, receive and close (Go: chan.go). The hchan layout
// and its invariants are in chan.h.
//
// Every operation follows Go's order:
//   send:    closed? panic.  receiver waiting? hand over directly.
//            room in the buffer? enqueue.  else park on sendq.
//   receive: closed and empty? zero result.  sender waiting? take from it
//            (unbuffered: its value; full buffer: the head, and its value
//            goes to the tail).  value buffered? take it.  else park on recvq.
//   close:   mark closed, wake every receiver (no value) and every sender
//            (which then panics).
// Wake-ups happen after the channel lock is released.
#include "runtime/chan.h"

#include <limits>

#include "runtime/arena.h"
#include "runtime/fatal.h"
#include "runtime/proc.h"
#include "stray/panic.h"

namespace stray::detail {

using rt::G;
using rt::sudog;
using rt::WaitReason;

// ---- wait queues ----

void waitq::enqueue(sudog* sg) {
  sg->next = nullptr;
  sg->prev = last;
  if (last) last->next = sg; else first = sg;
  last = sg;
}

void waitq::remove(sudog* sg) {
  // Unlinked already (or never queued): prev and next are null and sg is
  // not the single element.
  if (!sg->prev && !sg->next && first != sg) return;
  if (sg->prev) sg->prev->next = sg->next; else first = sg->next;
  if (sg->next) sg->next->prev = sg->prev; else last = sg->prev;
  sg->next = sg->prev = nullptr;
}

bool waitq::contains(const sudog* sg) const {
  for (const sudog* s = first; s; s = s->next)
    if (s == sg) return true;
  return false;
}

sudog* waitq::dequeue() {
  for (;;) {
    sudog* sg = first;
    if (!sg) return nullptr;
    remove(sg);
    // A select parks on several channels; only the first operation to claim
    // its G may complete. The losers' sudogs are skipped here and removed by
    // the select itself (pass 3).
    if (sg->is_select) {
      uint32_t zero = 0;
      if (!sg->g->select_done.compare_exchange_strong(zero, 1, std::memory_order_acq_rel))
        continue;
    }
    return sg;
  }
}

// ---- hand-offs (shared with select.cc) ----

G* send_locked(hchan* c, sudog* sg, void* ep) {
  elem_move_keep(c->ops, sg->elem, ep);
  G* gp = sg->g;
  sg->success = true;
  gp->param = sg;
  return gp;
}

G* recv_locked(hchan* c, sudog* sg, void* ep) {
  if (c->dataqsiz == 0) {
    elem_move_keep(c->ops, ep, sg->elem);
  } else {
    // The buffer is full: take its head, and put the sender's value in the
    // freed slot, which becomes the tail.
    char* head = c->slot(c->recvx);
    elem_move(c->ops, ep, head);
    elem_move_keep(c->ops, head, sg->elem);
    if (++c->recvx == c->dataqsiz) c->recvx = 0;
    c->sendx = c->recvx;
  }
  G* gp = sg->g;
  sg->success = true;
  gp->param = sg;
  return gp;
}

void bufsend_locked(hchan* c, void* ep) {
  elem_move_keep(c->ops, c->slot(c->sendx), ep);
  if (++c->sendx == c->dataqsiz) c->sendx = 0;
  c->qcount++;
}

void bufrecv_locked(hchan* c, void* ep) {
  elem_move(c->ops, ep, c->slot(c->recvx));
  if (++c->recvx == c->dataqsiz) c->recvx = 0;
  c->qcount--;
}

namespace {

// gopark's unlockf for a G queued on one channel.
bool chanparkcommit(G*, void* lock) NO_THREAD_SAFETY_ANALYSIS {
  static_cast<rt::Lock*>(lock)->unlock();
  return true;
}

// Parks the calling G on c's queue q until an operation or close completes
// it; returns sudog.success. Called with c->lock held; returns without it.
// (The analysis cannot see that gopark's unlockf releases the lock.)
bool block_on(hchan* c, waitq& q, void* ep, WaitReason reason) RELEASE(c->lock)
    NO_THREAD_SAFETY_ANALYSIS {
  G* gp = rt::getg();
  sudog* sg = rt::acquire_sudog(gp);
  *sg = sudog{gp, nullptr, nullptr, ep, c, nullptr, false, false, 0, 0};
  gp->waiting = sg;
  gp->param = nullptr;
  q.enqueue(sg);
  rt::gopark(gp, chanparkcommit, &c->lock, reason);
  // Woken by send_locked / recv_locked / close, or by a reclaim; each
  // dequeued sg.
  STRAY_DCHECK(gp->waiting == sg && (gp->param == sg || gp->reclaim), "stray: G waiting list is corrupted (chan)");
  gp->waiting = nullptr;
  gp->param = nullptr;
  bool ok = sg->success;
  rt::release_sudog(gp, sg);
  rt::throw_if_reclaimed(gp, reason);
  return ok;
}

}  // namespace

// ---- public entry points (stray/detail/runtime.h) ----

hchan* chan_make(const ElemOps* ops, std::size_t cap) {
  std::size_t align = ops->align < alignof(hchan) ? alignof(hchan) : ops->align;
  std::size_t header = (sizeof(hchan) + align - 1) / align * align;
  std::size_t limit = rt::arena_max_alloc() - header - align;
  if (ops->size != 0 && cap > limit / ops->size) throw panic("makechan: size out of range");
  std::size_t bytes = header + cap * ops->size + (align > 16 ? align : 0);
  void* mem = rt::arena_alloc(bytes);
  auto* c = ::new (mem) hchan;
  c->ops = ops;
  c->dataqsiz = cap;
  uintptr_t b = (reinterpret_cast<uintptr_t>(mem) + sizeof(hchan) + align - 1) / align * align;
  c->buf = reinterpret_cast<char*>(b);
  return c;
}

void chan_retain(hchan* c) noexcept { c->refs.fetch_add(1, std::memory_order_relaxed); }

void chan_release(hchan* c) noexcept NO_THREAD_SAFETY_ANALYSIS {
  if (c->refs.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  // Last handle: nobody can be blocked on c (a blocked party holds a handle).
  if (!c->ops->trivial) {
    ByteRange parts[2];
    for (int i = 0, n = chan_buffered(c, parts); i < n; i++)
      for (char* v = parts[i].lo; v < parts[i].hi; v += c->ops->size) c->ops->destroy(v);
  }
  c->~hchan();
  rt::arena_free(c);
}

std::size_t chan_len(const hchan* c) noexcept {
  // Go reads qcount without the lock; the lock keeps the race detector
  // quiet and costs an uncontended acquire. The result is a snapshot either way.
  if (!c) return 0;
  auto* m = const_cast<hchan*>(c);
  rt::LockGuard g(m->lock);
  return m->qcount;
}

std::size_t chan_cap(const hchan* c) noexcept { return c ? c->dataqsiz : 0; }

bool chan_send(hchan* c, void* ep, bool block) {
  if (!c) {
    if (!block) return false;
    rt::gopark(rt::getg(), nullptr, nullptr, WaitReason::chan_send_nil);
    rt::throw_if_reclaimed(rt::getg(), WaitReason::chan_send_nil);
    rt::fatal("stray: a goroutine blocked on a nil channel was woken");
  }
  c->lock.lock();
  if (c->closed) {
    c->lock.unlock();
    throw panic("send on closed channel");
  }
  if (sudog* sg = c->recvq.dequeue()) {
    G* gp = send_locked(c, sg, ep);
    c->lock.unlock();
    rt::goready(gp);
    return true;
  }
  if (c->qcount < c->dataqsiz) {
    bufsend_locked(c, ep);
    c->lock.unlock();
    return true;
  }
  if (!block) {
    c->lock.unlock();
    return false;
  }
  if (!block_on(c, c->sendq, ep, WaitReason::chan_send)) throw panic("send on closed channel");
  return true;
}

RecvResult chan_recv(hchan* c, void* ep, bool block) {
  if (!c) {
    if (!block) return {false, false};
    rt::gopark(rt::getg(), nullptr, nullptr, WaitReason::chan_receive_nil);
    rt::throw_if_reclaimed(rt::getg(), WaitReason::chan_receive_nil);
    rt::fatal("stray: a goroutine blocked on a nil channel was woken");
  }
  c->lock.lock();
  if (c->closed && c->qcount == 0) {
    c->lock.unlock();
    return {true, false};
  }
  if (sudog* sg = c->sendq.dequeue()) {
    G* gp = recv_locked(c, sg, ep);
    c->lock.unlock();
    rt::goready(gp);
    return {true, true};
  }
  if (c->qcount > 0) {
    bufrecv_locked(c, ep);
    c->lock.unlock();
    return {true, true};
  }
  if (!block) {
    c->lock.unlock();
    return {false, false};
  }
  bool ok = block_on(c, c->recvq, ep, WaitReason::chan_receive);
  return {true, ok};
}

void chan_close(hchan* c) {
  if (!c) throw panic("close of nil channel");
  c->lock.lock();
  if (c->closed) {
    c->lock.unlock();
    throw panic("close of closed channel");
  }
  c->closed = true;
  // Collect every waiter, then wake them after unlocking.
  G* ready = nullptr;
  for (waitq* q : {&c->recvq, &c->sendq}) {
    while (sudog* sg = q->dequeue()) {
      sg->success = false;
      G* gp = sg->g;
      gp->param = sg;
      gp->schedlink = ready;
      ready = gp;
    }
  }
  c->lock.unlock();
  rt::goready_list(ready);
}

void chan_detach(sudog* sg) {
  hchan* c = sg->c;
  rt::LockGuard g(c->lock);
  for (waitq* q : {&c->recvq, &c->sendq}) {
    if (q->contains(sg)) {
      q->remove(sg);
      return;
    }
  }
}

}  // namespace stray::detail
