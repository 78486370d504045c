// mark.cc — phases 3 and 4 of the leak pass: mark and fixpoint (see leak.h).
//
// Marking is conservative: every aligned word of a range being scanned is
// a candidate pointer, interior pointers included. A word is followed only
// if it points
// * into a live goroutine's stack: the stack is reached; its live part
//   (from the saved or interrupted stack pointer up) is scanned once; or
// * into a live channel object in the arena (hchan::magic): the channel is
//   reached and its buffered values are scanned. Its wait queues are
//   runtime bookkeeping and are never followed.
// Every other word is ignored: all other user memory is a root already
// (roots.cc), and other runtime objects are never followed.
//
// Fixpoint: a blocked goroutine is eventually runnable as soon as one of
// the addresses it waits on is reached: a channel of one of its sudogs, or
// the sync object it waits on (G::waiting_on), which counts as reached
// unless it lies in a goroutine stack not (yet) reached. Waiters are
// indexed by what they wait on (a channel table, a list per stack), so each
// is visited once when its target is reached: the pass is linear in the
// memory scanned plus the number of waits.
//
// Roots: running, runnable and new goroutines; goroutines asleep in
// sleep(); the channels of scheduled timers; roots.cc's memory and
// registers.
#include <unistd.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "runtime/arena.h"
#include "runtime/chan.h"
#include "leak/leak.h"
#include "runtime/options.h"
#include "runtime/timers.h"

namespace stray::rt {
namespace {

using detail::hchan;
using detail::kChanMagic;

// A wait: goroutine gi waits on a channel or on a stack address.
struct Waiter {
  int32_t gi;
  int32_t next;
};

struct ChanSlot {
  hchan* c;
  int32_t waiters;  // first Waiter, -1: none
  bool reached;
};

class Marker {
 public:
  Marker(const GTable& g, Scratch& s) : g_(g), gs_(g.gs), ng_(g.n), s_(s) {
    stacks_ = stack_region();
    arena_ = arena_range();
  }

  bool ok() const { return ok_ && s_.ok(); }
  uint64_t scanned() const { return scanned_; }

  // Records what each blocked goroutine waits on; makes roots of the rest.
  void index_waiters() {
    for (int i = 0; i < ng_; i++) {
      GRecord& r = gs_[i];
      bool waiting = r.status == Gstatus::waiting || r.status == Gstatus::leaked;
      if (!waiting || !can_leak(r.reason)) {
        if (verbose()) vlog("leak pass: goroutine %llu is a root (%s%s%s)", (unsigned long long)r.id, gstatus_string(r.status),
                            r.reason != WaitReason::none ? ", " : "", wait_reason_string(r.reason));
        make_runnable(i);
        continue;
      }
      r.blocked = true;
      if (const void* w = wait_targets(r.g, [&](hchan* c) { add_chan_waiter(c, i); })) {
        auto a = reinterpret_cast<uintptr_t>(w);
        GRecord* owner = stacks_.contains(a) ? find_stack(a) : nullptr;
        if (owner && !owner->stack_reached) {
          Waiter* wt = waiters_.push(s_, Waiter{i, owner->stack_waiters}) ? &waiters_.data[waiters_.n - 1] : nullptr;
          if (!wt) return fail();
          owner->stack_waiters = int32_t(waiters_.n - 1);
        } else {
          // Anywhere else — global, heap, unknown, a reached stack, the
          // arena — counts as reachable (soundness before precision).
          if (verbose())
            vlog("leak pass: goroutine %llu waits on %p outside unreached stacks: runnable", (unsigned long long)r.id, w);
          make_runnable(i);
        }
      }
    }
  }

  void add_timer_roots() {
    timers_for_each([this](hchan* c, G*) {
      if (c) reach_chan(c);
    });
  }

  void add_roots(const Roots& roots) {
    for (std::size_t i = 0; i < roots.ranges.n; i++) push(roots.ranges.data[i]);
  }

  // Scans until the work list is empty. Reaching a waiter's target makes it
  // runnable, which pushes its stack: this loop is the fixpoint.
  void drain() {
    // A failed push (scratch exhausted) stops the pass at the next range.
    while (ok() && work_.n > 0) {
      ScanRange r = work_.data[--work_.n];
      scan(r.lo, r.hi);
    }
  }

 private:
  GRecord* find_stack(uintptr_t p) { return g_.find_stack(p); }

  void fail() { ok_ = false; }

  void push(ScanRange r) {
    if (r.lo < r.hi && !work_.push(s_, r)) fail();
  }

  void reach_stack(GRecord* r) {
    if (r->stack_reached) return;
    r->stack_reached = true;
    push({r->live_lo, r->hi});
    // Whoever reaches this stack can reach the sync objects on it.
    for (int32_t w = r->stack_waiters; w >= 0; w = waiters_.data[w].next) make_runnable(waiters_.data[w].gi);
  }

  void make_runnable(int gi) {
    GRecord& r = gs_[gi];
    if (r.runnable) return;
    r.runnable = true;
    reach_stack(&r);
  }

  ChanSlot* chan_slot(hchan* c, bool insert) {
    if (insert && (chans_used_ + 1) * 2 > chans_cap_) grow_chans();
    if (!chans_) return nullptr;
    std::size_t mask = chans_cap_ - 1;
    std::size_t h = (reinterpret_cast<uintptr_t>(c) >> 4) * 0x9E3779B97F4A7C15ull >> 20;
    for (std::size_t i = h & mask;; i = (i + 1) & mask) {
      if (chans_[i].c == c) return &chans_[i];
      if (!chans_[i].c) {
        if (!insert) return nullptr;
        chans_[i] = {c, -1, false};
        chans_used_++;
        return &chans_[i];
      }
    }
  }

  void grow_chans() {
    std::size_t ncap = chans_cap_ ? chans_cap_ * 2 : 1024;
    ChanSlot* old = chans_;
    std::size_t ocap = chans_cap_;
    chans_ = s_.alloc<ChanSlot>(ncap);
    if (!chans_) {
      fail();
      chans_cap_ = 0;
      return;
    }
    chans_cap_ = ncap;
    chans_used_ = 0;
    for (std::size_t i = 0; i < ocap; i++) {
      if (!old[i].c) continue;
      ChanSlot* n = chan_slot(old[i].c, true);
      n->waiters = old[i].waiters;
      n->reached = old[i].reached;
    }
  }

  void add_chan_waiter(hchan* c, int gi) {
    ChanSlot* cs = chan_slot(c, true);
    if (!cs) return fail();
    if (cs->reached) return make_runnable(gi);
    if (!waiters_.push(s_, Waiter{gi, cs->waiters})) return fail();
    cs->waiters = int32_t(waiters_.n - 1);
  }

  // The world is stopped: no channel lock is held, none is needed.
  void reach_chan(hchan* c) NO_THREAD_SAFETY_ANALYSIS {
    ChanSlot* cs = chan_slot(c, true);
    if (!cs) return fail();
    if (cs->reached) return;
    cs->reached = true;
    int32_t w = cs->waiters;
    detail::ByteRange parts[2];  // the buffered values
    for (int i = 0, n = detail::chan_buffered(c, parts); i < n; i++) push({uintptr_t(parts[i].lo), uintptr_t(parts[i].hi)});
    for (; w >= 0; w = waiters_.data[w].next) make_runnable(waiters_.data[w].gi);
  }

  // The one pointer-scan primitive. Reads any user memory, so the
  // sanitizers must not instrument it. The world is stopped: nothing
  // changes the memory under it.
  __attribute__((no_sanitize("address", "thread"))) void scan(uintptr_t lo, uintptr_t hi)
      NO_THREAD_SAFETY_ANALYSIS {
    lo = (lo + 7) & ~uintptr_t(7);
    if (hi <= lo) return;
    scanned_ += hi - lo;
    // One compare rejects most words: both tracked regions lie inside
    // [any_lo, any_hi). Scanning a stack, most words that point into the
    // stack region point into that same stack (frame pointers, addresses of
    // locals): already reached.
    const uintptr_t any_lo = std::min(stacks_.lo, arena_.lo);
    const uintptr_t any_len = std::max(stacks_.hi, arena_.hi) - any_lo;
    const Range self = stacks_.contains(lo) ? Range{lo, hi} : Range{};
    for (const uintptr_t* w = reinterpret_cast<const uintptr_t*>(lo); w + 1 <= reinterpret_cast<const uintptr_t*>(hi);
         w++) {
      uintptr_t v = *w;
      if (v - any_lo >= any_len || self.contains(v)) continue;
      if (stacks_.contains(v)) {
        GRecord* r = find_stack(v);
        if (!r || r->stack_reached) continue;
        if (verbose())
          vlog("leak pass: stack of goroutine %llu reached from %p (scanning %#lx-%#lx)", (unsigned long long)r->id,
               static_cast<const void*>(w), (unsigned long)lo, (unsigned long)hi);
        reach_stack(r);
      } else if (arena_.contains(v)) {
        void* obj = arena_find(reinterpret_cast<void*>(v));
        if (!obj || *static_cast<const uint64_t*>(obj) != kChanMagic) continue;
        auto* c = static_cast<hchan*>(obj);
        if (verbose() && !chan_reached(c))
          vlog("leak pass: channel %p reached from %p (scanning %#lx-%#lx)", obj, static_cast<const void*>(w),
               (unsigned long)lo, (unsigned long)hi);
        reach_chan(c);
      }
    }
  }

  bool chan_reached(hchan* c) {
    ChanSlot* cs = chan_slot(c, false);
    return cs && cs->reached;
  }

  const GTable& g_;
  GRecord* gs_;
  int ng_;
  Scratch& s_;
  Range stacks_, arena_;
  ScratchVec<ScanRange> work_;
  ScratchVec<Waiter> waiters_;
  ChanSlot* chans_ = nullptr;
  std::size_t chans_cap_ = 0, chans_used_ = 0;
  uint64_t scanned_ = 0;
  bool ok_ = true;
};

}  // namespace

// Parsed before any stop: stop_the_world reads the options first.
bool verbose() { return options().leak_verbose; }

void vlog(const char* fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if (n > int(sizeof buf) - 2) n = int(sizeof buf) - 2;
  buf[n++] = '\n';
  ssize_t ignored = write(2, buf, std::size_t(n));
  (void)ignored;
}

bool mark(const GTable& g, Roots& roots, Scratch& s, uint64_t* scanned_bytes) {
  Marker m(g, s);
  m.index_waiters();
  m.add_timer_roots();
  m.add_roots(roots);
  m.drain();
  *scanned_bytes = m.scanned();
  if (!m.ok()) return false;
  for (int i = 0; i < g.n; i++) g.gs[i].leaked |= g.gs[i].blocked && !g.gs[i].runnable;
  return true;
}

}  // namespace stray::rt
