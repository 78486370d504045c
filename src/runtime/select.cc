// select.cc — the select statement (Go: select.go, selectgo).
//
// selectgo runs in three passes over the cases, with every involved channel
// locked (each once, in address order: Go's sellock, so two selects over the
// same channels cannot deadlock):
//   pass 1: in a random order (fairness), look for a case that can proceed
//           now; perform it and return.
//   (no case ready and non-blocking: return -1 for the default case.)
//   pass 2: enqueue one sudog per case on its channel's queue and park. The
//           first operation to claim the G (g->select_done, see
//           waitq::dequeue) completes its case and readies it.
//   pass 3: relock everything, dequeue the sudogs of the cases that did not
//           fire, and report the one that did.
// Nil-channel cases are dropped up front: they never fire. A select with no
// cases at all parks forever ("select (no cases)").
#include <algorithm>

#include "runtime/arena.h"
#include "runtime/chan.h"
#include "runtime/fatal.h"
#include "runtime/proc.h"
#include "stray/panic.h"

namespace stray::detail {

using rt::G;
using rt::sudog;

namespace {

constexpr int kMaxCases = 65536;

// Locks every distinct channel in lockorder (sorted by address).
void sellock(SelectCase* cases, const uint16_t* lockorder, int n) NO_THREAD_SAFETY_ANALYSIS {
  hchan* last = nullptr;
  for (int i = 0; i < n; i++) {
    hchan* c = cases[lockorder[i]].c;
    if (c != last) c->lock.lock();
    last = c;
  }
}

void selunlock(SelectCase* cases, const uint16_t* lockorder, int n) NO_THREAD_SAFETY_ANALYSIS {
  // Unlock in reverse order; each distinct channel once.
  for (int i = n - 1; i >= 0; i--) {
    hchan* c = cases[lockorder[i]].c;
    if (i > 0 && c == cases[lockorder[i - 1]].c) continue;
    c->lock.unlock();
  }
}

struct ParkArg {
  SelectCase* cases;
  const uint16_t* lockorder;
  int n;
};

bool selparkcommit(G*, void* arg) {
  auto* a = static_cast<ParkArg*>(arg);
  selunlock(a->cases, a->lockorder, a->n);
  return true;
}

}  // namespace

int selectgo(SelectCase* cases, int ncases, bool block, bool* received) NO_THREAD_SAFETY_ANALYSIS {
  *received = false;
  if (ncases == 0) {
    if (!block) return -1;
    rt::gopark(rt::getg(), nullptr, nullptr, rt::WaitReason::select_no_cases);
    rt::throw_if_reclaimed(rt::getg(), rt::WaitReason::select_no_cases);
    rt::fatal("stray: a goroutine blocked in select with no cases was woken");
  }
  if (ncases > kMaxCases) throw std::invalid_argument("stray::select: too many cases");

  // Poll order: a random permutation of the non-nil cases. Lock order: the
  // same cases sorted by channel address.
  uint16_t orders[2 * 64];
  uint16_t* heap_orders = nullptr;
  uint16_t* pollorder = orders;
  if (ncases > 64) {
    heap_orders = static_cast<uint16_t*>(rt::arena_alloc(2 * sizeof(uint16_t) * std::size_t(ncases)));
    pollorder = heap_orders;
  }
  uint16_t* lockorder = pollorder + ncases;
  int n = 0;
  for (int i = 0; i < ncases; i++) {
    if (!cases[i].c) continue;
    int j = int(rt::cheaprand() % uint32_t(n + 1));
    pollorder[n] = pollorder[j];
    pollorder[j] = uint16_t(i);
    n++;
  }
  std::copy(pollorder, pollorder + n, lockorder);
  std::sort(lockorder, lockorder + n,
            [cases](uint16_t a, uint16_t b) { return cases[a].c < cases[b].c; });
  struct FreeOrders {
    uint16_t* p;
    ~FreeOrders() { rt::arena_free(p); }
  } free_orders{heap_orders};

  sellock(cases, lockorder, n);

  // Pass 1: a case that can proceed now.
  for (int k = 0; k < n; k++) {
    int i = pollorder[k];
    SelectCase& cs = cases[i];
    hchan* c = cs.c;
    if (cs.is_send) {
      if (c->closed) {
        selunlock(cases, lockorder, n);
        throw panic("send on closed channel");
      }
      if (sudog* sg = c->recvq.dequeue()) {
        G* woken = send_locked(c, sg, cs.elem);
        selunlock(cases, lockorder, n);
        rt::goready(woken);
        return i;
      }
      if (c->qcount < c->dataqsiz) {
        bufsend_locked(c, cs.elem);
        selunlock(cases, lockorder, n);
        return i;
      }
    } else {
      if (sudog* sg = c->sendq.dequeue()) {
        G* woken = recv_locked(c, sg, cs.elem);
        selunlock(cases, lockorder, n);
        rt::goready(woken);
        *received = true;
        return i;
      }
      if (c->qcount > 0) {
        bufrecv_locked(c, cs.elem);
        selunlock(cases, lockorder, n);
        *received = true;
        return i;
      }
      if (c->closed) {
        selunlock(cases, lockorder, n);
        return i;
      }
    }
  }

  if (!block) {
    selunlock(cases, lockorder, n);
    return -1;
  }

  // Pass 2: wait on every channel.
  G* gp = rt::getg();
  gp->select_done.store(0, std::memory_order_relaxed);
  gp->param = nullptr;
  sudog** link = &gp->waiting;
  for (int k = 0; k < n; k++) {
    int i = lockorder[k];
    SelectCase& cs = cases[i];
    sudog* sg = rt::acquire_sudog(gp);
    *sg = sudog{gp, nullptr, nullptr, cs.elem, cs.c, nullptr, true, false, uint16_t(i), 0};
    *link = sg;
    link = &sg->waitlink;
    (cs.is_send ? cs.c->sendq : cs.c->recvq).enqueue(sg);
  }
  *link = nullptr;
  ParkArg pa{cases, lockorder, n};
  rt::gopark(gp, selparkcommit, &pa, rt::WaitReason::select);

  // Pass 3: dequeue from the channels that did not fire (none fired if a
  // reclaim woke it).
  sellock(cases, lockorder, n);
  sudog* won = gp->param;
  if constexpr (rt::kDebugChecks) {
    bool mine = false;
    for (sudog* sg = gp->waiting; sg; sg = sg->waitlink) mine |= sg == won && sg->g == gp;
    STRAY_DCHECK(mine || gp->reclaim, "stray: selectgo: woken by a sudog not on its case list");
  }
  int chosen = -1;
  bool ok = false;
  for (sudog* sg = gp->waiting; sg;) {
    sudog* next = sg->waitlink;
    if (sg == won) {
      chosen = sg->case_index;
      ok = sg->success;
    } else {
      SelectCase& cs = cases[sg->case_index];
      (cs.is_send ? cs.c->sendq : cs.c->recvq).remove(sg);
    }
    rt::release_sudog(gp, sg);
    sg = next;
  }
  gp->waiting = nullptr;
  gp->param = nullptr;
  selunlock(cases, lockorder, n);
  rt::throw_if_reclaimed(gp, rt::WaitReason::select);  // a reclaim took every sudog off
  if (chosen < 0) rt::fatal("stray: select woken without a winning case");
  if (cases[chosen].is_send) {
    if (!ok) throw panic("send on closed channel");
  } else {
    *received = ok;
  }
  return chosen;
}

}  // namespace stray::detail
