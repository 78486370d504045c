// reclaim.cc — resuming leaked goroutines with an exception
// (stray::reclaim_leaked, stray/pprof.h; the Golf paper's recovery step:
// Go itself keeps leaked goroutines forever).
//
// Owns the reclaim protocol: which leaked goroutines are resumed now, which
// wait to be released, and the goroutine_leaked exception they throw.
//
// Soundness (why resuming them is invisible to every other goroutine): a
// goroutine the pass marked leaked can never be woken through stray's
// primitives — nothing that runs can reach what it waits on (DESIGN.md
// §1). Taking its sudogs off channels nothing else can reach, and running
// its destructors, therefore changes nothing another goroutine can observe
// through those primitives; what the destructors themselves do is the
// program's code, as for any exception (hence opt-in).
//
// Protocol, for the leaked goroutines of one call (one at a time: `mu`):
//  1. Collect every G in status leaked (allglock; linked through schedlink,
//     which a parked G does not use).
//  2. Channel waiters (sudogs on channel queues; a nil channel or an empty
//     select has none): every sudog off its queue (chan_detach, each
//     channel's lock alone), for all of them before any resumes, so that a
//     close or send made by one while it unwinds cannot reach another.
//  3. Sync waiters (on a semaphore: Mutex, RWMutex, WaitGroup, Cond): marked
//     `reclaim` and set back to waiting, still queued. Whoever releases what
//     they wait for — the unwinding of the group they leaked with — wakes
//     them the ordinary way; sync.cc then undoes their acquisition and
//     throws. Detaching them instead would leave the object's counters
//     (a Mutex's waiter count, a WaitGroup's waiters) counting a waiter
//     that is gone, and a later release would hand a token to nobody.
//  4. Channel waiters: marked `reclaim`, set back to waiting, readied.
//     block_on / selectgo / the nil-channel parks see the mark and throw.
// Step 3 comes before 4 so that a sync waiter is in status waiting before
// any goroutine of its group can run and release it.
//
// A goroutine that catches goroutine_leaked and blocks for good again is
// found by the next pass and reclaimed again; one whose sync object is
// never released stays parked (waiting, marked) and is found again too.
//
// Lock order: a pass's pass_mu, then mu, then allglock or one channel lock
// at a time (never two).
#include <cstdio>
#include <mutex>

#include "runtime/chan.h"
#include "runtime/g.h"
#include "runtime/proc.h"
#include "stray/go.h"

namespace stray::rt {
namespace {

std::mutex mu;  // one reclaim at a time; passes hold it too (reclaim_mutex)

bool on_semaphore(const G* g) { return g->waiting_on != nullptr; }

// Leaked -> waiting: not a wake-up (casgstatus would call it a false
// positive), the reclaim's own transition; the G stays parked.
void unleak(G* g) { g->status.store(Gstatus::waiting, std::memory_order_release); }

}  // namespace

std::mutex& reclaim_mutex() { return mu; }

int reclaim_leaked_gs() {
  std::lock_guard<std::mutex> lock(mu);
  // Two lists: a sync waiter may be readied by others from step 4 on, and
  // goready reuses schedlink, so the lists are never walked after that.
  G* on_chan = nullptr;
  G* on_sema = nullptr;
  for_each_g_locked([&](G* g) {
    if (g->status.load(std::memory_order_acquire) != Gstatus::leaked) return;
    G*& list = on_semaphore(g) ? on_sema : on_chan;
    g->schedlink = list;
    list = g;
  });
  for (G* g = on_chan; g; g = g->schedlink)
    for (sudog* sg = g->waiting; sg; sg = sg->waitlink) detail::chan_detach(sg);
  int n = 0;
  for (G* g = on_sema; g; g = g->schedlink, n++) {
    g->reclaim = true;
    unleak(g);
  }
  for (G* g = on_chan; g; n++) {
    G* next = g->schedlink;  // before goready reuses it
    g->reclaim = true;
    g->param = nullptr;
    unleak(g);
    goready(g);
    g = next;
  }
  return n;
}

void throw_leaked(const G* g, WaitReason reason) {
  char what[96];
  snprintf(what, sizeof what, "goroutine %llu leaked in [%s] and was reclaimed", (unsigned long long)g->id,
           wait_reason_string(reason));
  throw goroutine_leaked(what);
}

}  // namespace stray::rt
