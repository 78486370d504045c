// mark.cc — phases 3 and 4 of the leak pass: mark and fixpoint (see leak.h).
//
// Marking is conservative: every aligned word of a range being scanned is
// a candidate pointer, interior pointers included. A word is followed only
// if it points
// * into a live goroutine's stack: the stack is reached; its live part
//   (from the saved or interrupted stack pointer up) is scanned once; or
// * into a live channel object in the arena (hchan::magic): the channel is
//   reached and its buffered values are scanned. Its wait queues are
//   runtime bookkeeping and are never followed; or
// * into a live tracked heap allocation, or one past its end (heap.h): the
//   allocation is reached and scanned whole, once (a mark bit per block in
//   per-leaf scratch bitmaps).
// Every other word is ignored: all other user memory is a root already
// (roots.cc), and other runtime objects are never followed.
//
// Root memory is scanned around the tracked allocations inside it: memory
// inside a live tracked allocation is not a root. Large ranges are scanned
// in pieces, depth first, so the work list stays small however many blocks
// a root points to.
//
// Fixpoint: a blocked goroutine is eventually runnable as soon as one of
// the addresses it waits on is reached: a channel of one of its sudogs, or
// the sync object it waits on (G::waiting_on), which counts as reached
// unless it lies in a goroutine stack or a tracked heap allocation not
// (yet) reached. Waiters are indexed by what they wait on (a channel table,
// a list per stack, a table of watched heap blocks), so each is visited
// once when its target is reached: the pass is linear in the memory
// scanned plus the number of waits.
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
#include "runtime/heap.h"
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

// Goroutines waiting on a sync object inside a heap block.
struct WatchSlot {
  uintptr_t block;  // the block's start; 0: empty
  int32_t waiters;
};

// A range is scanned at most this much at a time (the rest goes back on
// the work list), so what it reaches is scanned before the rest of it.
constexpr uintptr_t kScanPiece = 16 << 10;
// Root memory is scanned on until this much work is pending (the gaps
// between heap blocks are short: draining after each would cost more than
// the gap).
constexpr std::size_t kDrainAt = 4096;
// The largest block the sweep scans in passing (see scan_roots); a larger
// one is pushed when reached.
constexpr uintptr_t kSweepMax = kScanPiece;

class Marker {
 public:
  Marker(const GTable& g, Scratch& s) : g_(g), gs_(g.gs), ng_(g.n), s_(s) {
    stacks_ = stack_region();
    arena_ = arena_range();
    any_ = {std::min(stacks_.lo, arena_.lo), std::max(stacks_.hi, arena_.hi)};
    if (heap::active() && heap::lowest() < heap::highest()) {
      heap_ = {heap::lowest(), heap::highest() + 1};  // + 1: one past the end of the highest block
      any_ = {std::min(any_.lo, heap_.lo), std::max(any_.hi, heap_.hi)};
      nleaves_ = heap::leaves();
      marks_ = s_.alloc<uint64_t*>(nleaves_);
      watched_ = s_.alloc<uint64_t*>(nleaves_);
      if (!marks_ || !watched_) fail();
    }
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
        heap::Block b;
        if (owner && !owner->stack_reached) {
          Waiter* wt = waiters_.push(s_, Waiter{i, owner->stack_waiters}) ? &waiters_.data[waiters_.n - 1] : nullptr;
          if (!wt) return fail();
          owner->stack_waiters = int32_t(waiters_.n - 1);
        } else if (!owner && heap_.contains(a) && heap::find(a, &b)) {
          watch_block(b, i);
        } else {
          // Anywhere else — global, untracked heap, unknown, a reached
          // stack, the arena — counts as reachable (soundness before
          // precision).
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

  // Scans the roots, skipping the live tracked allocations inside them,
  // and everything they reach. Reaching a waiter's target makes it
  // runnable, which pushes its stack: this is the fixpoint.
  //
  // Root memory holding tracked blocks (the allocator's own mappings) is
  // read once, in address order: every other root is scanned first, and
  // a small block reached inside a sweep range the sweep has not passed yet
  // is only marked (deferred); the sweep then scans, block by block, the
  // root bytes between blocks and each marked block as it passes it. A
  // block reached behind the sweep, or too large, goes on the work list.
  // Invariant: a block is deferred only if its start lies in a sweep range
  // at or after the one being swept, at or above the cursor, so the sweep
  // still visits it — and visits it after it was marked.
  void scan_roots(const Roots& roots) {
    for (std::size_t i = 0; i < roots.ranges.n; i++) {
      ScanRange r = roots.ranges.data[i];
      if (sweeps(r) && !sweep_.push(s_, {std::max(r.lo, heap_.lo), std::min(r.hi, heap_.hi)})) return fail();
    }
    // Sorted and disjoint, as /proc/self/maps lists them; made so anyway:
    // the invariant above depends on it.
    Range* sw = sweep_.data;
    std::sort(sw, sw + sweep_.n, [](const Range& x, const Range& y) { return x.lo < y.lo; });
    for (std::size_t i = 1; i < sweep_.n; i++) sw[i].lo = std::min(std::max(sw[i].lo, sw[i - 1].hi), sw[i].hi);
    for (std::size_t i = 0; i < roots.ranges.n && ok(); i++) {
      ScanRange r = roots.ranges.data[i];
      if (!sweeps(r)) {
        push({r.lo, r.hi});
      } else {  // the parts outside the heap's address range
        push({r.lo, std::max(r.lo, heap_.lo)});
        push({std::min(r.hi, heap_.hi), r.hi});
      }
      drain();
    }
    for (std::size_t k = 0; k < sweep_.n && ok(); k++) sweep(k);
    sweep_i_ = sweep_.n;  // nothing is deferred any more
    drain();
  }

  bool sweeps(const ScanRange& r) const { return r.around_heap && r.hi > heap_.lo && r.lo < heap_.hi; }

  // Scans until the work list is empty.
  void drain() {
    // A failed push (scratch exhausted) stops the pass at the next range.
    while (ok() && work_.n > 0) {
      ScanRange r = work_.data[--work_.n];
      if (r.hi - r.lo > kScanPiece) {
        work_.data[work_.n++] = {r.lo + kScanPiece, r.hi};  // popped slot: room
        r.hi = r.lo + kScanPiece;
      }
      scan(r.lo, r.hi);
    }
  }

 private:
  // Sweeps sweep_[k]: its root bytes around the blocks in it, and the
  // deferred blocks, in address order.
  void sweep(std::size_t k) {
    constexpr int kBatch = 64;
    heap::Block batch[kBatch];
    const Range r = sweep_.data[k];
    uintptr_t at = r.lo;
    if (heap::find(at, &batch[0])) at = batch[0].hi;  // a block starting below r is not this sweep's
    sweep_i_ = k;
    cursor_ = at;
    while (at < r.hi && ok()) {
      int n = heap::starts_in(at, r.hi, batch, kBatch);
      for (int i = 0; i < n; i++) {
        const heap::Block& b = batch[i];
        scan_pieces(at, b.lo);
        cursor_ = b.lo + 1;  // reaching b from now on pushes it
        if (b.hi - b.lo <= kSweepMax && bit(marks_, b, false)) scan(b.lo, b.hi);
        at = b.hi;
        if (work_.n >= kDrainAt) drain();
      }
      if (n < kBatch) {
        scan_pieces(at, r.hi);
        at = r.hi;
      }
    }
    drain();
  }

  // Root memory [lo, hi), a piece at a time, draining as work piles up.
  void scan_pieces(uintptr_t lo, uintptr_t hi) {
    for (uintptr_t piece = lo; piece < hi; piece += std::min(hi - piece, kScanPiece)) {
      scan(piece, std::min(hi, piece + kScanPiece));
      if (work_.n >= kDrainAt) drain();
    }
  }

  // Whether the sweep will still scan b (see scan_roots).
  bool deferred(const heap::Block& b) {
    if (b.hi - b.lo > kSweepMax || b.lo < cursor_ || sweep_i_ >= sweep_.n) return false;
    const Range* sw = sweep_.data;
    if (!sw[last_].contains(b.lo)) {
      const Range* it = std::upper_bound(sw + sweep_i_, sw + sweep_.n, b.lo, [](uintptr_t p, const Range& x) { return p < x.hi; });
      if (it == sw + sweep_.n || !it->contains(b.lo)) return false;
      last_ = std::size_t(it - sw);
    }
    return last_ >= sweep_i_;
  }

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
    // One compare rejects most words: every tracked region lies inside
    // any_. Scanning a stack, most words that point into the stack region
    // point into that same stack (frame pointers, addresses of locals):
    // already reached. The loop keeps to registers; a candidate is handled
    // out of line.
    const uintptr_t any_lo = any_.lo, any_len = any_.hi - any_.lo;
    const Range self = stacks_.contains(lo) ? Range{lo, hi} : Range{};
    const auto* end = reinterpret_cast<const uintptr_t*>(hi & ~uintptr_t(7));
    for (const uintptr_t* w = reinterpret_cast<const uintptr_t*>(lo); w < end; w++) {
      uintptr_t v = *w;
      if (v - any_lo < any_len && !self.contains(v)) follow(v, w, lo, hi);
    }
  }

  // A word of [lo, hi) at w with a value inside any_.
  [[gnu::noinline]] void follow(uintptr_t v, const uintptr_t* w, uintptr_t lo, uintptr_t hi) NO_THREAD_SAFETY_ANALYSIS {
    if (stacks_.contains(v)) {
      GRecord* r = find_stack(v);
      if (!r || r->stack_reached) return;
      if (verbose())
        vlog("leak pass: stack of goroutine %llu reached from %p (scanning %#lx-%#lx)", (unsigned long long)r->id,
             static_cast<const void*>(w), (unsigned long)lo, (unsigned long)hi);
      reach_stack(r);
    } else if (arena_.contains(v)) {
      void* obj = arena_find(reinterpret_cast<void*>(v));
      if (!obj || *static_cast<const uint64_t*>(obj) != kChanMagic) return;
      auto* c = static_cast<hchan*>(obj);
      if (verbose() && !chan_reached(c))
        vlog("leak pass: channel %p reached from %p (scanning %#lx-%#lx)", obj, static_cast<const void*>(w),
             (unsigned long)lo, (unsigned long)hi);
      reach_chan(c);
    } else if (heap_.contains(v)) {
      // Inside a block, or one past the end of one (or both: a block
      // that starts where another ends).
      heap::Block b[2];
      for (int i = 0, n = heap::find_around(v, b); i < n; i++) reach_heap(b[i], w, lo, hi);
    }
  }

  void reach_heap(const heap::Block& b, const uintptr_t* from, uintptr_t lo, uintptr_t hi) {
    if (verbose() && !bit(marks_, b, false))
      vlog("leak pass: heap block %#lx-%#lx reached from %p (scanning %#lx-%#lx)", (unsigned long)b.lo,
           (unsigned long)b.hi, static_cast<const void*>(from), (unsigned long)lo, (unsigned long)hi);
    reach_block(b);
  }

  // The bitmap bit of a block, from per-leaf bitmaps made on first use.
  bool bit(uint64_t** maps, const heap::Block& sl, bool set) {
    if (sl.leaf >= nleaves_) {  // cannot be: leaves are numbered before they are published
      fail();  // no report rather than a block left unscanned
      return true;
    }
    uint64_t*& m = maps[sl.leaf];
    if (!m) {
      if (!set) return false;
      if (!(m = s_.alloc<uint64_t>(heap::kLeafGranules / 64))) {
        fail();
        return true;
      }
    }
    uint64_t mask = uint64_t(1) << (sl.granule & 63), &w = m[sl.granule / 64];
    bool was = w & mask;
    if (set) w |= mask;
    return was;
  }

  void reach_block(const heap::Block& b) {
    if (bit(marks_, b, true)) return;
    if (!deferred(b)) push({b.lo, b.hi});
    if (nwatched_ && bit(watched_, b, false))
      for (int32_t w = watch_slot(b.lo, false)->waiters; w >= 0; w = waiters_.data[w].next) make_runnable(waiters_.data[w].gi);
  }

  // Goroutine gi waits on a sync object inside heap block b.
  void watch_block(const heap::Block& b, int gi) {
    WatchSlot* ws = watch_slot(b.lo, true);
    if (!ws || !waiters_.push(s_, Waiter{gi, ws->waiters})) return fail();
    ws->waiters = int32_t(waiters_.n - 1);
    bit(watched_, b, true);
  }

  WatchSlot* watch_slot(uintptr_t block, bool insert) {
    if (insert && (nwatched_ + 1) * 2 > watch_cap_) {
      std::size_t ncap = watch_cap_ ? watch_cap_ * 2 : 256;
      WatchSlot* old = watch_;
      std::size_t ocap = watch_cap_;
      if (!(watch_ = s_.alloc<WatchSlot>(ncap))) {
        watch_cap_ = 0;
        return nullptr;
      }
      watch_cap_ = ncap;
      for (std::size_t i = 0; i < ocap; i++)
        if (old[i].block) *watch_probe(old[i].block) = old[i];
    }
    WatchSlot* ws = watch_probe(block);
    if (insert && !ws->block) {
      *ws = {block, -1};
      nwatched_++;
    }
    return ws;
  }

  WatchSlot* watch_probe(uintptr_t block) {
    std::size_t mask = watch_cap_ - 1;
    for (std::size_t i = (block >> 3) * 0x9E3779B97F4A7C15ull >> 20 & mask;; i = (i + 1) & mask)
      if (watch_[i].block == block || !watch_[i].block) return &watch_[i];
  }

  bool chan_reached(hchan* c) {
    ChanSlot* cs = chan_slot(c, false);
    return cs && cs->reached;
  }

  const GTable& g_;
  GRecord* gs_;
  int ng_;
  Scratch& s_;
  Range stacks_, arena_, heap_, any_;
  std::size_t nleaves_ = 0;
  uint64_t** marks_ = nullptr;    // per leaf: reached blocks
  uint64_t** watched_ = nullptr;  // per leaf: blocks with waiters
  WatchSlot* watch_ = nullptr;
  std::size_t watch_cap_ = 0, nwatched_ = 0;
  ScratchVec<ScanRange> work_;
  ScratchVec<Range> sweep_;   // root memory holding tracked blocks
  std::size_t sweep_i_ = 0;   // the range being swept
  std::size_t last_ = 0;      // the range deferred() found last
  uintptr_t cursor_ = 0;      // in sweep_[sweep_i_]: blocks from here on are still to visit
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
  m.scan_roots(roots);
  *scanned_bytes = m.scanned();
  if (!m.ok()) return false;
  for (int i = 0; i < g.n; i++) g.gs[i].leaked |= g.gs[i].blocked && !g.gs[i].runnable;
  return true;
}

}  // namespace stray::rt
