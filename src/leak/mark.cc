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
// in pieces, depth first, so the work lists stay small however many
// blocks a root points to.
//
// Two phases, so that the allocator's mappings (most of a big process) are
// read once, in address order:
// A. every root but the mappings holding tracked blocks, and everything it
//    reaches. A small block (≤ kSweepMax) whose start lies in such a
//    mapping (a sweep range) is only marked: it is deferred to phase B;
//    any other block reached is pushed and scanned now.
// B. the sweep ranges, in 4 MiB chunks: the root bytes between blocks, and
//    each block marked in phase A as the sweep passes it. A block first
//    reached in phase B gets a bit in a second bitmap (`later_`) and is
//    pushed.
// Phase A's fast path: a word that is exactly the start of a small block
// (≤ heap::kSmallBytes, one shadow byte says so) in a sweep range only sets
// the block's bit in a third bitmap, `starts_` — no search for the block
// that may end where this one starts, which the word reaches too (a
// pointer one past a block's end). The sweep settles that one: a block
// whose end bit is set in starts_ was reached (swept_reached,
// end_reached), and so was a block begun outside every sweep range that
// ends there (checked where a range begins).
// Invariant: every reached block is scanned — in phase A if pushed there,
// by the sweep if deferred (the sweep visits every block starting in a
// sweep range, and the phase A marks are final before it starts), in phase
// B if first reached there. With one worker, exactly once.
//
// Parallel marking: with more than one worker (options: STRAY_LEAK_WORKERS;
// auto: one per CPU when the sweep ranges hold at least kParallelMin), the
// pass thread starts helper threads with clone(2) for the two phases — raw
// threads on scratch stacks, since the world is stopped and pthread_create
// may need malloc's lock. Each worker has its own work list and shares
// half of it through a pool when another worker is idle; a phase ends when
// every worker is idle and the pool is empty. Each worker sets mark bits
// only in its own bitmaps, with plain stores (an atomic or per block cost
// more than the rest of marking it); a block is marked if any worker's
// bit is set, so two workers may both scan a block — a duplicate, never a
// block left out. Everything else the workers share (goroutine records,
// the channel and watch tables, waiter lists, scratch allocation, the
// pool) is touched only under lock_. Helpers share the pass thread's
// thread-local storage (the code they run touches none but errno, and the
// locale when logging), never call malloc, and exit before the world
// restarts. Sanitizer builds mark with one worker (their
// runtimes do not know raw threads).
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
//
// Lock order: lock_ is a leaf (a spin lock; the world is stopped).
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <linux/futex.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
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

// What is known of an address that goroutines may wait on: a channel, or
// a heap block holding a sync object.
struct WaitSlot {
  uintptr_t key;    // the channel, the block's start; 0: empty
  int32_t waiters;  // first Waiter, -1: none
  bool reached;     // channels: reached already
};

// Open addressing from an address to its slot, in scratch memory; grows
// at half full.
class WaitTable {
 public:
  // key's slot, made if insert; null if there is none, or if the table
  // could not grow (scratch exhausted).
  WaitSlot* find(Scratch& s, uintptr_t key, bool insert) {
    if (insert && (used_ + 1) * 2 > cap_ && !grow(s)) return nullptr;
    if (!cap_) return nullptr;
    std::size_t mask = cap_ - 1;
    for (std::size_t i = (key >> 3) * 0x9E3779B97F4A7C15ull >> 20 & mask;; i = (i + 1) & mask) {
      if (slots_[i].key == key) return &slots_[i];
      if (!slots_[i].key) {
        if (!insert) return nullptr;
        slots_[i] = {key, -1, false};
        used_++;
        return &slots_[i];
      }
    }
  }

  std::size_t size() const { return used_; }

 private:
  bool grow(Scratch& s) {
    std::size_t ocap = cap_, ncap = cap_ ? cap_ * 2 : 256;
    WaitSlot* old = slots_;
    WaitSlot* fresh = s.alloc<WaitSlot>(ncap);
    if (!fresh) return false;
    slots_ = fresh;
    cap_ = ncap;
    used_ = 0;
    for (std::size_t i = 0; i < ocap; i++)
      if (old[i].key) *find(s, old[i].key, true) = old[i];
    return true;
  }

  WaitSlot* slots_ = nullptr;
  std::size_t cap_ = 0, used_ = 0;
};

// A range is scanned at most this much at a time (the rest goes back on
// the work list), so what it reaches is scanned before the rest of it.
constexpr uintptr_t kScanPiece = 16 << 10;
// Root memory is scanned on until this much work is pending (the gaps
// between heap blocks are short: draining after each would cost more than
// the gap).
constexpr std::size_t kDrainAt = 4096;
// The largest block the sweep scans in passing; a larger one is pushed
// when reached.
constexpr uintptr_t kSweepMax = kScanPiece;
// Sweep chunks: the unit workers take in phase B.
constexpr uintptr_t kChunk = uintptr_t(4) << 20;
// A worker's own work list; when full, half of it goes to the pool.
constexpr std::size_t kLocalCap = 8192;
// Automatic worker count: more than one only for sweeps this large (a
// thread costs about 50 µs to start and join), at most kMaxWorkers.
constexpr uintptr_t kParallelMin = uintptr_t(64) << 20;
constexpr int kMaxWorkers = 8;
constexpr std::size_t kHelperStack = std::size_t(256) << 10;
// The most mark bitmaps (64 KiB each) a worker prefaults at once.
constexpr std::size_t kBitmapBatch = 32;

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kRawThreads = false;
#else
constexpr bool kRawThreads = true;
#endif

// A piece of a sweep range, the unit workers take in phase B; first: it
// opens the range.
struct Chunk {
  Range r;
  bool first;
};

// One leaf's phase A bits (marks_ and starts_), every worker's, read a
// word at a time: the sweep asks about blocks in address order. Phase A's
// bits are final before anyone reads them so.
struct PhaseABits {
  uint32_t leaf = UINT32_MAX;
  int nmarks = 0, nstarts = 0;
  const uint64_t* marks[kMaxWorkers];
  const uint64_t* starts[kMaxWorkers];
  std::size_t word = SIZE_MAX;
  uint64_t start = 0;  // every worker's starts_ bits at word...
  uint64_t any = 0;    // ... and their marks_ bits too
};

// One marking thread's state. Worker 0 is the pass thread.
struct alignas(128) Worker {  // alignas: no false sharing between workers
  ScanRange* work = nullptr;  // kLocalCap entries
  std::size_t n = 0;
  int index = 0;
  int phase = 0;
  bool holds_lock = false;
  std::size_t last_sweep = 0;  // the sweep range in_sweep() found last
  PhaseABits bits;                  // swept_reached's
  heap::LeafView leaf;              // took_start's
  uint64_t* next_bitmap = nullptr;  // new_bitmap's batch
  std::size_t bitmaps_left = 0, bitmap_batch = 2;
  uint64_t scanned = 0;
};

class Marker {
 public:
  Marker(const GTable& g, Scratch& s) : g_(g), gs_(g.gs), ng_(g.n), s_(s), verbose_(verbose()) {
    stacks_ = stack_region();
    arena_ = arena_range();
    any_ = {std::min(stacks_.lo, arena_.lo), std::max(stacks_.hi, arena_.hi)};
    if (heap::active() && heap::lowest() < heap::highest()) {
      indexed_ = {heap::lowest(), heap::highest()};
      heap_ = {indexed_.lo, indexed_.hi + 1};  // + 1: one past the end of the highest block
      any_ = {std::min(any_.lo, heap_.lo), std::max(any_.hi, heap_.hi)};
      nleaves_ = heap::leaves();
      for (int i = 0; i < kMaxWorkers; i++)
        if (!(marks_[i] = s_.alloc<uint64_t*>(nleaves_)) || !(starts_[i] = s_.alloc<uint64_t*>(nleaves_)) ||
            !(later_[i] = s_.alloc<uint64_t*>(nleaves_)))
          fail();
      if (!(watched_ = s_.alloc<uint64_t*>(nleaves_))) fail();
    }
  }

  // Scratch allocation failures call fail() too.
  bool ok() const { return ok_.load(std::memory_order_relaxed); }
  uint64_t scanned() const { return scanned_; }
  int workers() const { return nworkers_; }

  // The whole pass, on the pass thread.
  void run(const Roots& roots, int want_workers) NO_THREAD_SAFETY_ANALYSIS {
    for (int i = 0; i < kMaxWorkers; i++) workers_[i].index = i;
    Worker& me = workers_[0];
    if (!(me.work = s_.alloc<ScanRange>(kLocalCap))) return fail();
    me.holds_lock = true;  // alone until the helpers start
    index_waiters(me);
    add_timer_roots(me);
    plan(roots, me);
    // The pushes so far (stacks, channel buffers, roots) are everybody's.
    while (me.n > 0 && ok()) pool_put(me.work[--me.n]);
    me.holds_lock = false;
    if (!ok()) return;
    start_helpers(want_workers);
    work(me);
    join_helpers();
    for (int i = 0; i < nworkers_; i++) scanned_ += workers_[i].scanned;
  }

 private:
  // ---- setup (pass thread, alone) ----

  // Records what each blocked goroutine waits on; makes roots of the rest.
  void index_waiters(Worker& me) {
    for (int i = 0; i < ng_; i++) {
      GRecord& r = gs_[i];
      if (r.status == Gstatus::leaked) {
        // Proven by an earlier pass: nothing can make it runnable, so what
        // it waits on needs no index (reading its wait records costs cache
        // misses per goroutine: most of a pass over 100,000 leaked ones).
        r.blocked = true;
        continue;
      }
      bool waiting = r.status == Gstatus::waiting;
      if (!waiting || !can_leak(r.reason)) {
        if (verbose_) vlog("leak pass: goroutine %llu is a root (%s%s%s)", (unsigned long long)r.id, gstatus_string(r.status),
                            r.reason != WaitReason::none ? ", " : "", wait_reason_string(r.reason));
        make_runnable(me, i);
        continue;
      }
      r.blocked = true;
      if (const void* w = wait_targets(r.g, [&](hchan* c) { add_chan_waiter(me, c, i); })) {
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
          if (verbose_)
            vlog("leak pass: goroutine %llu waits on %p outside unreached stacks: runnable", (unsigned long long)r.id, w);
          make_runnable(me, i);
        }
      }
    }
  }

  void add_timer_roots(Worker& me) {
    timers_for_each([this, &me](hchan* c, G*) {
      if (c) reach_chan(me, c);
    });
  }

  // Splits the roots: the parts of mappings holding tracked blocks become
  // sweep chunks (phase B); everything else is pushed for phase A.
  void plan(const Roots& roots, Worker& me) {
    ScratchVec<Range> sweep;
    for (std::size_t i = 0; i < roots.ranges.n && ok(); i++) {
      ScanRange r = roots.ranges.data[i];
      if (!r.around_heap || r.hi <= indexed_.lo || r.lo >= indexed_.hi) {
        push(me, {r.lo, r.hi});
        continue;
      }
      // Cut at the leaves' bounds, which are aligned: a cut between two
      // words loses neither (at heap_.hi, one past, the word at
      // indexed_.hi was in neither part).
      Range in{std::max(r.lo, indexed_.lo), std::min(r.hi, indexed_.hi)};
      if (!sweep.push(s_, in)) return fail();
      push(me, {r.lo, in.lo});  // the parts outside the heap's address range
      push(me, {in.hi, r.hi});
    }
    // Sorted and disjoint, as /proc/self/maps lists them; made so anyway:
    // in_sweep() searches them.
    Range* sw = sweep.data;
    std::sort(sw, sw + sweep.n, [](const Range& x, const Range& y) { return x.lo < y.lo; });
    for (std::size_t i = 1; i < sweep.n; i++) {  // a range inside the one before becomes empty, at its end
      sw[i].lo = std::max(sw[i].lo, sw[i - 1].hi);
      sw[i].hi = std::max(sw[i].hi, sw[i].lo);
    }
    sweep_ = sw;
    nsweep_ = sweep.n;
    for (std::size_t i = 0; i < nsweep_ && ok(); i++) {
      sweep_bytes_ += sw[i].hi - sw[i].lo;
      for (uintptr_t lo = sw[i].lo; lo < sw[i].hi;) {
        uintptr_t hi = std::min(sw[i].hi, (lo & ~(kChunk - 1)) + kChunk);
        if (!chunks_.push(s_, {{lo, hi}, lo == sw[i].lo})) return fail();
        lo = hi;
      }
    }
  }

  // ---- workers ----

  // Phase A, then phase B, on every worker.
  void work(Worker& me) {
    me.phase = 0;
    finish_phase(me);
    me.phase = 1;
    for (std::size_t c; ok() && (c = next_chunk_.fetch_add(1, std::memory_order_relaxed)) < chunks_.n;)
      sweep(me, chunks_.data[c]);
    finish_phase(me);
  }

  // Works until every worker is idle and the pool is empty. A worker that
  // saw the phase end may already push phase B work to the pool: takers
  // check the end under the lock.
  void finish_phase(Worker& me) {
    std::atomic<int>& idle = idle_[me.phase];
    for (;;) {
      drain(me);
      {
        Locked l(*this, me);
        if (pool_take(me)) continue;
        if (idle.fetch_add(1, std::memory_order_relaxed) + 1 == nworkers_) {
          done_[me.phase].store(true, std::memory_order_release);
          return;
        }
      }
      for (int spins = 0;; spins++) {
        if (done_[me.phase].load(std::memory_order_acquire)) return;
        if (pool_n_.load(std::memory_order_relaxed) > 0) {
          Locked l(*this, me);
          if (done_[me.phase].load(std::memory_order_relaxed)) return;
          if (pool_take(me)) {
            idle.fetch_sub(1, std::memory_order_relaxed);
            break;
          }
        }
        if (spins > 64)
          sched_yield();
        else
          arch_pause();
      }
    }
  }

  static void arch_pause() {
#if defined(__x86_64__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("yield");
#endif
  }

  // Scans until the worker's own list is empty, handing work to idle
  // workers on the way.
  void drain(Worker& me) {
    std::atomic<int>& idle = idle_[me.phase];
    while (me.n > 0) {
      if (!ok()) {  // a failed pass: drop the work
        me.n = 0;
        return;
      }
      ScanRange r = me.work[--me.n];
      if (r.hi - r.lo > kScanPiece) {
        ScanRange rest{r.lo + kScanPiece, r.hi};
        r.hi = r.lo + kScanPiece;
        if (nworkers_ > 1 && rest.hi - rest.lo > 2 * kScanPiece && idle.load(std::memory_order_relaxed) > 0) {
          uintptr_t mid = rest.lo + ((rest.hi - rest.lo) / 2 & ~uintptr_t(7));
          give(me, {mid, rest.hi});
          rest.hi = mid;
        }
        me.work[me.n++] = rest;  // the popped slot: room
      } else if (nworkers_ > 1 && me.n > 1 && idle.load(std::memory_order_relaxed) > 0) {
        share(me);
      }
      scan(me, r.lo, r.hi);
    }
  }

  void push(Worker& me, ScanRange r) {
    if (r.lo >= r.hi) return;
    if (me.n == kLocalCap) share(me);
    me.work[me.n++] = r;
  }

  // Moves the older half of the worker's list to the pool.
  void share(Worker& me) {
    std::size_t k = me.n / 2;
    if (!k) return;
    {
      Locked l(*this, me);
      for (std::size_t i = 0; i < k; i++) pool_put(me.work[i]);
    }
    std::memmove(me.work, me.work + k, (me.n - k) * sizeof(ScanRange));
    me.n -= k;
  }

  void give(Worker& me, ScanRange r) {
    Locked l(*this, me);
    pool_put(r);
  }

  // Under lock_.
  void pool_put(ScanRange r) {
    if (!pool_.push(s_, r)) return fail();
    pool_n_.store(pool_.n, std::memory_order_relaxed);
  }

  // Under lock_: moves a few pool entries to the worker's list.
  bool pool_take(Worker& me) {
    if (!ok()) pool_.n = 0;
    std::size_t k = std::min<std::size_t>(pool_.n, 8);
    for (std::size_t i = 0; i < k; i++) me.work[me.n++] = pool_.data[--pool_.n];
    pool_n_.store(pool_.n, std::memory_order_relaxed);
    return k > 0;
  }

  // lock_ for the length of a scope, unless the worker holds it already
  // (a push under the lock that shares its list).
  class Locked {
   public:
    Locked(Marker& m, Worker& me) : m_(m), me_(me), outer_(me.holds_lock) {
      if (outer_) return;
      while (m_.lock_.exchange(true, std::memory_order_acquire))
        while (m_.lock_.load(std::memory_order_relaxed)) arch_pause();
      me_.holds_lock = true;
    }
    ~Locked() {
      if (outer_) return;
      me_.holds_lock = false;
      m_.lock_.store(false, std::memory_order_release);
    }
    Locked(const Locked&) = delete;
    Locked& operator=(const Locked&) = delete;

   private:
    Marker& m_;
    Worker& me_;
    bool outer_;
  };

  // Sweeps chunk c: its root bytes around the blocks starting in it, and
  // the blocks phase A reached and left to it, in address order.
  void sweep(Worker& me, const Chunk& c) {
    constexpr int kBatch = 64;
    heap::Block batch[kBatch];
    uintptr_t at = c.r.lo;
    // A block begun below the chunk is the previous chunk's to sweep —
    // unless the chunk opens a sweep range and the block begins outside
    // every range: then nobody sweeps it, and a pointer to its end that
    // phase A's fast path took (end_reached) must still reach it.
    heap::Block around[2];
    for (int i = 0, n = heap::find_around(at, around); i < n; i++) {
      const heap::Block& b = around[i];
      if (b.lo >= at) continue;
      if (c.first && !in_sweep(me, b.lo) && end_reached(me, b)) reach_block(me, b);
      at = std::max(at, b.hi);
    }
    // [run, at): root bytes and reached blocks, scanned in one go when a
    // block that is not scanned here (or the piece size) ends the run.
    uintptr_t run = at;
    while (at < c.r.hi && ok()) {
      int n = heap::starts_in(at, c.r.hi, batch, kBatch);
      for (int i = 0; i < n; i++) {
        const heap::Block& b = batch[i];
        bool small = b.hi - b.lo <= kSweepMax;
        if (small && swept_reached(me, b)) {
          fire_watches(me, b);
        } else {
          scan_pieces(me, run, b.lo);
          if (!small && end_reached(me, b)) reach_block(me, b);  // pushed unless phase A pushed it
          run = b.hi;
        }
        at = b.hi;
        if (at - run >= kScanPiece) {
          scan_pieces(me, run, at);
          run = at;
        }
      }
      // No more blocks start here: the rest is root bytes, unless the last
      // block, in the run, ends past the chunk.
      if (n < kBatch) at = std::max(at, c.r.hi);
    }
    scan_pieces(me, run, at);
    drain(me);
  }

  // Root memory [lo, hi), a piece at a time, draining as work piles up.
  void scan_pieces(Worker& me, uintptr_t lo, uintptr_t hi) {
    for (uintptr_t piece = lo; piece < hi; piece += std::min(hi - piece, kScanPiece)) {
      scan(me, piece, std::min(hi, piece + kScanPiece));
      if (me.n >= kDrainAt) drain(me);
    }
  }

  // The one pointer-scan primitive. Reads any user memory, so the
  // sanitizers must not instrument it. The world is stopped: nothing
  // changes the memory under it.
  __attribute__((no_sanitize("address", "thread"))) void scan(Worker& me, uintptr_t lo, uintptr_t hi)
      NO_THREAD_SAFETY_ANALYSIS {
    lo = (lo + 7) & ~uintptr_t(7);
    if (hi <= lo) return;
    me.scanned += hi - lo;
    // One compare rejects most words: every tracked region lies inside
    // any_. Scanning a stack, most words that point into the stack region
    // point into that same stack (frame pointers, addresses of locals):
    // already reached. The loop keeps to registers; a candidate is handled
    // out of line.
    const Range self = stacks_.contains(lo) ? Range{lo, hi} : Range{};
    if (me.phase == 0 && !verbose_)
      scan_words<true>(me, lo, hi, self);
    else
      scan_words<false>(me, lo, hi, self);
  }

  // scan's loop, one copy with phase A's fast path and one without (the
  // sweep's stays in registers).
  template <bool kFast>
  __attribute__((no_sanitize("address", "thread"))) void scan_words(Worker& me, uintptr_t lo, uintptr_t hi,
                                                                     Range self) NO_THREAD_SAFETY_ANALYSIS {
    const uintptr_t any_lo = any_.lo, any_len = any_.hi - any_.lo;
    const auto* end = reinterpret_cast<const uintptr_t*>(hi & ~uintptr_t(7));
    for (const uintptr_t* w = reinterpret_cast<const uintptr_t*>(lo); w < end; w++) {
      uintptr_t v = *w;
      if (v - any_lo < any_len && !self.contains(v) && !(kFast && took_start(me, v))) follow(me, v, w, lo, hi);
    }
  }

  // Phase A's fast path, for the commonest pointer: to the start of a
  // small block that the sweep will scan. One shadow byte, one bit in this
  // worker's starts_; a block ending at v, which v reaches too, is left to
  // the sweep (end_reached). Tracked blocks lie outside the stacks and the
  // arena: a start found here is none of theirs.
  [[gnu::always_inline]] bool took_start(Worker& me, uintptr_t v) {
    if ((v & 7) || !((v >> heap::kLeafShift == me.leaf.chunk || heap::view_leaf(v, &me.leaf)) &&
                     heap::small_starts_at(me.leaf, v) && in_sweep(me, v)))
      return false;
    set(me, starts_, heap::Block{v, v, me.leaf.number, uint32_t((v >> 3) & (heap::kLeafGranules - 1))});
    return true;
  }

  // A word of [lo, hi) at w with a value inside any_.
  [[gnu::noinline]] void follow(Worker& me, uintptr_t v, const uintptr_t* w, uintptr_t lo, uintptr_t hi)
      NO_THREAD_SAFETY_ANALYSIS {
    if (stacks_.contains(v)) {
      Locked l(*this, me);
      GRecord* r = find_stack(v);
      if (!r || r->stack_reached) return;
      if (verbose_)
        vlog("leak pass: stack of goroutine %llu reached from %p (scanning %#lx-%#lx)", (unsigned long long)r->id,
             static_cast<const void*>(w), (unsigned long)lo, (unsigned long)hi);
      reach_stack(me, r);
    } else if (arena_.contains(v)) {
      void* obj = arena_find(reinterpret_cast<void*>(v));
      if (!obj || *static_cast<const uint64_t*>(obj) != kChanMagic) return;
      auto* c = static_cast<hchan*>(obj);
      Locked l(*this, me);
      if (verbose_ && !chan_reached(c))
        vlog("leak pass: channel %p reached from %p (scanning %#lx-%#lx)", obj, static_cast<const void*>(w),
             (unsigned long)lo, (unsigned long)hi);
      reach_chan(me, c);
    } else if (heap_.contains(v)) {
      heap::Block b[2];
      // Inside a block, or one past the end of one (or both: a block
      // that starts where another ends).
      for (int i = 0, n = heap::find_around(v, b); i < n; i++)
        if (reach_block(me, b[i]) && verbose_)
          vlog("leak pass: heap block %#lx-%#lx reached from %p (scanning %#lx-%#lx)", (unsigned long)b[i].lo,
               (unsigned long)b[i].hi, static_cast<const void*>(w), (unsigned long)lo, (unsigned long)hi);
    }
  }

  // Reaches block b; true if this was the first time.
  bool reach_block(Worker& me, const heap::Block& b) {
    if (me.phase == 0) {
      if (test_and_set(me, marks_, b)) return false;
      if (!deferrable(me, b)) push(me, {b.lo, b.hi});
    } else {
      // Reached in phase A: pushed there, or the sweep scans it.
      if ((deferrable(me, b) ? swept_reached(me, b) : test_any(marks_, b)) || test_and_set(me, later_, b)) return false;
      push(me, {b.lo, b.hi});
    }
    fire_watches(me, b);
    return true;
  }

  // Makes runnable the goroutines waiting on a sync object in b.
  void fire_watches(Worker& me, const heap::Block& b) {
    if (!watches_.size() || !test(watched_, b)) return;
    Locked l(*this, me);
    for (int32_t w = watches_.find(s_, b.lo, false)->waiters; w >= 0; w = waiters_.data[w].next)
      make_runnable(me, waiters_.data[w].gi);
  }

  // Whether phase B's sweep will scan b: small, and starting in a sweep
  // range.
  bool deferrable(Worker& me, const heap::Block& b) { return b.hi - b.lo <= kSweepMax && in_sweep(me, b.lo); }

  bool in_sweep(Worker& me, uintptr_t p) {
    if (!nsweep_) return false;
    if (sweep_[me.last_sweep].contains(p)) return true;
    const Range* it =
        std::upper_bound(sweep_, sweep_ + nsweep_, p, [](uintptr_t a, const Range& x) { return a < x.hi; });
    if (it == sweep_ + nsweep_ || !it->contains(p)) return false;
    me.last_sweep = std::size_t(it - sweep_);
    return true;
  }

  // Whether phase A reached small block b, which the sweep then scans: a
  // pointer into it or one past its end (marks_), or a pointer exactly at
  // its start or its end taken by the fast path (starts_; a bit at b.hi
  // means a pointer that was exactly b.hi, since the fast path only sets
  // bits where a block starts).
  bool swept_reached(Worker& me, const heap::Block& b) {
    const PhaseABits* pa = phase_a_bits(me, b.leaf, b.granule / 64);
    return !pa || (pa->any >> (b.granule & 63) & 1) || end_reached(me, b);
  }

  // Whether phase A's fast path took a pointer exactly one past b's end
  // (where another block starts).
  bool end_reached(Worker& me, const heap::Block& b) {
    uint32_t leaf = b.leaf, g = uint32_t(b.granule + (b.hi - b.lo) / 8);
    if (b.granule + (b.hi - b.lo) / 8 >= heap::kLeafGranules && !heap::locate(b.hi, &leaf, &g)) return false;
    const PhaseABits* pa = phase_a_bits(me, leaf, g / 64);
    return !pa || (pa->start >> (g & 63) & 1);
  }

  // me.bits at word w of the leaf; null (and the pass failed) if there is
  // no such leaf.
  const PhaseABits* phase_a_bits(Worker& me, uint32_t leaf, std::size_t w) {
    PhaseABits& pa = me.bits;
    if (pa.leaf != leaf) {
      if (leaf >= nleaves_) {  // cannot be: leaves are numbered before they are published
        fail();                // no report rather than a block left unscanned
        return nullptr;
      }
      pa.leaf = leaf;
      pa.word = SIZE_MAX;
      pa.nmarks = pa.nstarts = 0;
      for (int i = 0; i < nworkers_; i++) {
        if (const uint64_t* m = __atomic_load_n(&marks_[i][leaf], __ATOMIC_ACQUIRE)) pa.marks[pa.nmarks++] = m;
        if (const uint64_t* m = __atomic_load_n(&starts_[i][leaf], __ATOMIC_ACQUIRE)) pa.starts[pa.nstarts++] = m;
      }
    }
    if (pa.word != w) {
      pa.word = w;
      pa.start = 0;
      for (int i = 0; i < pa.nstarts; i++) pa.start |= pa.starts[i][w];
      pa.any = pa.start;
      for (int i = 0; i < pa.nmarks; i++) pa.any |= pa.marks[i][w];
    }
    return &pa;
  }

  // ---- mark bits: per-leaf bitmaps, made on first use ----

  // The bitmap word holding b's bit, or null if b's leaf has no bitmap
  // (and create is false).
  [[gnu::always_inline]] uint64_t* bit_word(Worker* me, uint64_t** maps, const heap::Block& b, uint64_t* mask)
      NO_THREAD_SAFETY_ANALYSIS {
    *mask = uint64_t(1) << (b.granule & 63);
    if (b.leaf >= nleaves_) {  // cannot be: leaves are numbered before they are published
      fail();                  // no report rather than a block left unscanned
      return nullptr;
    }
    uint64_t* m = __atomic_load_n(&maps[b.leaf], __ATOMIC_ACQUIRE);
    if (!m && me) {  // maps is me's own: nobody else publishes into it
      if (!(m = new_bitmap(*me))) {
        fail();
        return nullptr;
      }
      __atomic_store_n(&maps[b.leaf], m, __ATOMIC_RELEASE);
    }
    return m ? &m[b.granule / 64] : nullptr;
  }

  // A zeroed bitmap for one leaf, resident before any other worker can
  // read it (prefault: mem.h), from a batch the worker takes from
  // scratch memory — two bitmaps first, twice as many each time after, up
  // to kBitmapBatch: a small pass populates little, a large one makes few
  // system calls.
  uint64_t* new_bitmap(Worker& me) NO_THREAD_SAFETY_ANALYSIS {
    constexpr std::size_t kWords = heap::kLeafGranules / 64;
    if (!me.bitmaps_left) {
      uint64_t* batch;
      {
        Locked l(*this, me);
        batch = s_.alloc<uint64_t>(kWords * me.bitmap_batch);
      }
      if (!batch) return nullptr;
      prefault(batch, kWords * 8 * me.bitmap_batch);
      me.next_bitmap = batch;
      me.bitmaps_left = me.bitmap_batch;
      me.bitmap_batch = std::min(me.bitmap_batch * 2, kBitmapBatch);
    }
    me.bitmaps_left--;
    uint64_t* m = me.next_bitmap;
    me.next_bitmap += kWords;
    return m;
  }

  bool test(uint64_t** maps, const heap::Block& b) {
    uint64_t mask;
    const uint64_t* w = bit_word(nullptr, maps, b, &mask);
    return w && (__atomic_load_n(w, __ATOMIC_RELAXED) & mask);
  }

  // Whether any worker set b's bit in its own maps.
  bool test_any(uint64_t** const* maps, const heap::Block& b) {
    for (int i = 0; i < nworkers_; i++)
      if (test(maps[i], b)) return true;
    return false;
  }

  // Sets b's bit in this worker's maps; true if some worker's was set
  // already (or the pass failed). Plain stores: each worker writes only
  // its own bitmaps. Two workers may both find a block unmarked and both
  // scan it — a duplicate, never a block left out.
  bool test_and_set(Worker& me, uint64_t** const* maps, const heap::Block& b) {
    for (int i = 0; nworkers_ > 1 && i < nworkers_; i++)
      if (i != me.index && test(maps[i], b)) return true;
    return set(me, maps, b);
  }

  // Sets b's bit in this worker's maps; true if it was set already (or
  // the pass failed).
  [[gnu::always_inline]] bool set(Worker& me, uint64_t** const* maps, const heap::Block& b) {
    uint64_t mask;
    uint64_t* w = bit_word(&me, maps[me.index], b, &mask);
    if (!w) return true;
    uint64_t old = __atomic_load_n(w, __ATOMIC_RELAXED);
    __atomic_store_n(w, old | mask, __ATOMIC_RELAXED);
    return old & mask;
  }

  // ---- what the workers share: under lock_ ----

  GRecord* find_stack(uintptr_t p) { return g_.find_stack(p); }

  void fail() { ok_.store(false, std::memory_order_relaxed); }

  void reach_stack(Worker& me, GRecord* r) {
    if (r->stack_reached) return;
    r->stack_reached = true;
    push(me, {r->live_lo, r->hi});
    // Whoever reaches this stack can reach the sync objects on it.
    for (int32_t w = r->stack_waiters; w >= 0; w = waiters_.data[w].next) make_runnable(me, waiters_.data[w].gi);
  }

  void make_runnable(Worker& me, int gi) {
    GRecord& r = gs_[gi];
    if (r.runnable) return;
    r.runnable = true;
    reach_stack(me, &r);
  }

  WaitSlot* chan_slot(hchan* c, bool insert) { return chans_.find(s_, reinterpret_cast<uintptr_t>(c), insert); }

  void add_chan_waiter(Worker& me, hchan* c, int gi) {
    WaitSlot* cs = chan_slot(c, true);
    if (!cs) return fail();
    if (cs->reached) return make_runnable(me, gi);
    if (!waiters_.push(s_, Waiter{gi, cs->waiters})) return fail();
    cs->waiters = int32_t(waiters_.n - 1);
  }

  // The world is stopped: no channel lock is held, none is needed.
  void reach_chan(Worker& me, hchan* c) NO_THREAD_SAFETY_ANALYSIS {
    WaitSlot* cs = chan_slot(c, true);
    if (!cs) return fail();
    if (cs->reached) return;
    cs->reached = true;
    int32_t w = cs->waiters;
    detail::ByteRange parts[2];  // the buffered values
    for (int i = 0, n = detail::chan_buffered(c, parts); i < n; i++)
      push(me, {uintptr_t(parts[i].lo), uintptr_t(parts[i].hi)});
    for (; w >= 0; w = waiters_.data[w].next) make_runnable(me, waiters_.data[w].gi);
  }

  bool chan_reached(hchan* c) {
    WaitSlot* cs = chan_slot(c, false);
    return cs && cs->reached;
  }

  // Goroutine gi waits on a sync object inside heap block b (setup only).
  void watch_block(const heap::Block& b, int gi) {
    WaitSlot* ws = watches_.find(s_, b.lo, true);
    if (!ws || !waiters_.push(s_, Waiter{gi, ws->waiters})) return fail();
    ws->waiters = int32_t(waiters_.n - 1);
    uint64_t mask;
    if (uint64_t* w = bit_word(&workers_[0], watched_, b, &mask)) *w |= mask;
  }

  // ---- helper threads ----

  struct Helper {
    Marker* m;
    int index;
    pid_t tid;  // cleared by the kernel when the thread has exited
  };

  static int helper_main(void* arg) {
    auto* h = static_cast<Helper*>(arg);
    Marker& m = *h->m;
    while (!m.go_.load(std::memory_order_acquire)) arch_pause();
    m.work(m.workers_[h->index]);
    return 0;
  }

  int auto_workers() const {
    if (sweep_bytes_ < kParallelMin) return 1;
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) != 0) return 1;
    return std::clamp(CPU_COUNT(&set), 1, kMaxWorkers);
  }

  // Starts up to want - 1 helpers (want 0: automatic); nworkers_ counts
  // the workers that run. Signals stay blocked in the helpers.
  void start_helpers(int want) NO_THREAD_SAFETY_ANALYSIS {
    if (want <= 0) want = auto_workers();
    want = kRawThreads ? std::min(want, kMaxWorkers) : 1;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    for (int i = 1; i < want; i++) {
      Worker& w = workers_[i];
      char* stack = static_cast<char*>(s_.alloc_bytes(kHelperStack, 4096));
      if (!(w.work = s_.alloc<ScanRange>(kLocalCap)) || !stack || mprotect(stack, 4096, PROT_NONE) != 0) break;
      Helper& h = helpers_[i];
      h = {this, i, 0};
      constexpr int kFlags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM |
                             CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID;
      if (clone(helper_main, stack + kHelperStack, kFlags, &h, &h.tid, nullptr, &h.tid) == -1) break;
      nworkers_ = i + 1;
    }
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    go_.store(true, std::memory_order_release);
  }

  void join_helpers() {
    for (int i = 1; i < nworkers_; i++)
      for (pid_t t; (t = __atomic_load_n(&helpers_[i].tid, __ATOMIC_ACQUIRE)) != 0;)
        syscall(SYS_futex, &helpers_[i].tid, FUTEX_WAIT, t, nullptr, nullptr, 0);
  }

  const GTable& g_;
  GRecord* gs_;
  int ng_;
  Scratch& s_;
  const bool verbose_;
  Range stacks_, arena_, any_;
  Range indexed_;  // the leaves' address range: every tracked block lies inside
  Range heap_;     // indexed_ and the address one past its end: a word here may refer to a block
  std::size_t nleaves_ = 0;
  // Per worker, per leaf: blocks it reached in phase A (starts_: those
  // its fast path took, by a pointer to their start), and blocks it
  // reached first in phase B.
  uint64_t** marks_[kMaxWorkers] = {};
  uint64_t** starts_[kMaxWorkers] = {};
  uint64_t** later_[kMaxWorkers] = {};
  uint64_t** watched_ = nullptr;  // per leaf: blocks with waiters
  WaitTable watches_;  // heap blocks with waiters
  ScratchVec<Waiter> waiters_;
  WaitTable chans_;
  const Range* sweep_ = nullptr;  // sorted, disjoint
  std::size_t nsweep_ = 0;
  uintptr_t sweep_bytes_ = 0;
  ScratchVec<Chunk> chunks_;
  std::atomic<std::size_t> next_chunk_{0};
  // Workers.
  Worker workers_[kMaxWorkers];
  Helper helpers_[kMaxWorkers];
  int nworkers_ = 1;
  std::atomic<bool> go_{false};
  std::atomic<bool> lock_{false};
  ScratchVec<ScanRange> pool_;
  std::atomic<std::size_t> pool_n_{0};
  std::atomic<int> idle_[2]{};
  std::atomic<bool> done_[2]{};
  uint64_t scanned_ = 0;
  std::atomic<bool> ok_{true};
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

bool mark(const GTable& g, Roots& roots, Scratch& s, MarkStats* stats) {
  Marker m(g, s);
  m.run(roots, int(options().leak_workers));
  stats->scanned_bytes = m.scanned();
  stats->workers = m.workers();
  if (!m.ok() || !s.ok()) return false;
  for (int i = 0; i < g.n; i++) g.gs[i].leaked |= g.gs[i].blocked && !g.gs[i].runnable;
  return true;
}

}  // namespace stray::rt
