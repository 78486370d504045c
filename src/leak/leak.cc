// leak.cc — the leak pass's driver: runs the phases of leak.h in order.
//
// With the world stopped (inside with_loader_lock, see traceback.h): stop,
// snapshot the goroutines, classify, mark + fixpoint, mark the leaked ones,
// unwind the stacks the caller wants, restart. Then, in ordinary memory,
// copy the snapshot out for report.cc.
#include <ucontext.h>

#include <algorithm>
#include <mutex>

#include "leak/leak.h"
#include "runtime/arch.h"
#include "runtime/arena.h"
#include "runtime/lock.h"
#include "runtime/proc.h"
#include "runtime/sema.h"

namespace stray::rt {
namespace {

std::mutex pass_mu;  // one pass at a time (a plain mutex: see HACKING.md)

struct Pass {
  bool detect;
  Stacks stacks;
  uintptr_t entry_sp;
  ucontext_t self_uc;  // the pass thread's registers at entry
  G* self_g;           // the goroutine running the pass, if any
  Scratch scratch;
  World world;
  GRecord* gs = nullptr;
  int ng = 0;
  MarkStats marked;
  int64_t start_ns = 0;  // run_pass's start, once it holds pass_mu
  int64_t pause_ns = 0;
  int64_t total_ns = 0;
  bool ok = false;
  char why[256] = "";
  ParkedWalks* walks = nullptr;  // unwind_stacks' replays (traceback.h)
};


struct Fill {
  GRecord* gs;
  int n, max;
};

void fill_record(G* g, Fill* f) {
  Gstatus st = g->status.load(std::memory_order_acquire);
  if (st == Gstatus::dead || f->n == f->max) return;
  GRecord& r = f->gs[f->n++];
  r = GRecord{};
  r.g = g;
  r.id = g->id;
  r.status = st;
  r.reason = g->waitreason.load(std::memory_order_relaxed);
  r.waitsince = g->waitsince;
  r.leaked = st == Gstatus::leaked;  // reported by an earlier pass
  r.parent_id = g->parent_id;
  r.create_pc = reinterpret_cast<uintptr_t>(g->create_pc);
  r.account = g->account;
  // Waiting on a Mutex, which is live while it waits (sema.h).
  if (st == Gstatus::waiting || st == Gstatus::leaked)
    if (r.reason == WaitReason::sync_mutex_lock && g->waiting_on) r.lock_holder = mutex_holder(g->waiting_on);
  r.lo = reinterpret_cast<uintptr_t>(g->stack.lo);
  r.hi = reinterpret_cast<uintptr_t>(g->stack.hi);
  // Live from the stack pointer its last switch saved; classify corrects a
  // running one: to the stack pointer of the thread found on its stack, or
  // to the bottom when its worker runs elsewhere (a signal handler on the
  // alternate stack, a coroutine). Idle (go() building its closure): the
  // whole stack.
  auto sp = reinterpret_cast<uintptr_t>(g->ctx.fctx);
  r.live_lo = (st != Gstatus::idle && sp >= r.lo && sp < r.hi) ? sp : r.lo;
}

void unwind(Pass& p, GRecord& r) {
  r.pcs = p.scratch.alloc<uintptr_t>(kMaxFrames);
  if (!r.pcs) return;
  if (r.g == p.self_g) {
    r.npcs = traceback_regs(arch::regs_of(&p.self_uc), r.pcs, kMaxFrames);
  } else if (r.regs) {
    r.npcs = traceback_regs(*r.regs, r.pcs, kMaxFrames);
    r.pc0_exact = true;
  } else if (r.status != Gstatus::running) {
    r.npcs = traceback_parked(r.g->ctx, r.pcs, kMaxFrames, p.walks);
  }
}

// Snapshot of the goroutine table, sorted by stack address. False when
// scratch memory ran out.
bool snapshot_goroutines(Pass& p, GTable* table) {
  int n = 0;
  for_each_g([&n](G* g) { n += g->status.load(std::memory_order_acquire) != Gstatus::dead; });
  Fill f{p.scratch.alloc<GRecord>(std::size_t(n) + 1), 0, n};
  if (!f.gs) return false;
  for_each_g([&f](G* g) { fill_record(g, &f); });
  p.gs = f.gs;
  p.ng = f.n;
  std::sort(p.gs, p.gs + p.ng, [](const GRecord& a, const GRecord& b) { return a.lo < b.lo; });
  *table = GTable{p.gs, p.scratch.alloc<uintptr_t>(std::size_t(p.ng) + 1), p.ng};
  if (!table->his) return false;
  for (int i = 0; i < p.ng; i++) table->his[i] = p.gs[i].hi;
  return true;
}

// Phase 5's first half: the verdict becomes the goroutines' status.
void mark_leaked(Pass& p) {
  for (int i = 0; i < p.ng; i++)
    if (p.gs[i].leaked && p.gs[i].status == Gstatus::waiting) set_leaked(p.gs[i].g);
}

// Unwinds the wanted stacks of leaked goroutines (leaked) or of the others.
// The others' stacks change as soon as the world runs again, so they are
// unwound while it is stopped. A leaked goroutine never runs again — only
// a reclaim could resume it, and the pass holds reclaim_mutex() — so its
// stack is unwound after the restart, off the pause.
void unwind_stacks(Pass& p, bool leaked) {
  if (p.stacks == Stacks::none || (p.stacks == Stacks::leaked && !leaked)) return;
  if (!p.walks) p.walks = parked_walks_new(p.scratch);
  for (int i = 0; i < p.ng && p.scratch.ok(); i++)
    if (p.gs[i].leaked == leaked) unwind(p, p.gs[i]);
}

// Everything that needs the world stopped: the phases of leak.h in order.
void stopped_phase(Pass& p) {
  int64_t t0 = nanotime();
  if (!stop_the_world(&p.world, p.scratch, p.why, sizeof p.why)) return;  // 1. stop
  GTable table;
  Roots roots;
  p.ok = snapshot_goroutines(p, &table) &&
         classify(p.world, p.entry_sp, table, p.scratch, &roots, p.why, sizeof p.why);  // 2. classify
  if (p.ok && p.detect) p.ok = mark(table, roots, p.scratch, &p.marked);               // 3-4. mark, fixpoint
  if (p.ok && p.detect) mark_leaked(p);                                                 // 5. verdict
  if (p.ok) unwind_stacks(p, /*leaked=*/false);
  start_the_world(&p.world);
  p.pause_ns = nanotime() - t0;
  if (!p.ok && !p.why[0]) snprintf(p.why, sizeof p.why, "leak pass: out of scratch memory (mmap failed)");
}

// The caller's stack pointer, or a little below: everything from there up
// is the caller's.
[[gnu::noinline]] uintptr_t caller_sp() {
  return reinterpret_cast<uintptr_t>(__builtin_frame_address(0)) + arch::kFrameToCallerSp;
}

constinit thread_local uintptr_t tls_entry = 0;  // PassEntry's sp, or 0

// Where the detector's own frames begin on the pass thread: its caller's
// stack pointer, or a PassEntry's further up the same stack.
uintptr_t pass_entry_sp(uintptr_t caller) {
  uintptr_t e = tls_entry;
  return e > caller && e - caller <= (uintptr_t(1) << 20) ? e : caller;
}

// The pass's state lives in runtime memory, not on the stack the pass
// scans: it holds the pass thread's registers (whose caller-saved ones may
// carry any stale value) and pointers to goroutine records.
Pass* new_pass(bool detect, Stacks stacks) {
  static void* mem = sys_reserve(sizeof(Pass), "the leak pass");
  return ::new (mem) Pass{detect, stacks, 0, {}, current_goroutine(), {}, {}, nullptr, 0, {}};
}

}  // namespace

// Writes below the stack pointer, where no frame is live; the sanitizers
// would flag the stale redzones of frames that ended.
[[gnu::noinline, gnu::no_sanitize_address]] void scrub_dead_stack(std::size_t n) {
  uintptr_t sp = arch::stack_pointer();
  uintptr_t lo = sp - n;
  if (G* g = current_goroutine()) {
    uintptr_t floor = reinterpret_cast<uintptr_t>(g->stack.lo) + kCanaryBytes + 4096;
    if (lo < floor) lo = floor;
  }
  for (uintptr_t a = sp - 8; a >= lo && a < sp; a -= 8) *reinterpret_cast<volatile uintptr_t*>(a) = 0;
}

[[gnu::noinline]] PassResult run_pass(bool detect, Stacks stacks) {
  // In a forked child the threads a pass would stop are gone, and so may be
  // a pass that held pass_mu: refuse before waiting for it.
  die_if_forked_child();
#if defined(__SANITIZE_THREAD__)
  // ThreadSanitizer defers a signal to its own safe points, so the stop
  // would wait out its timeout on a thread busy in user code, and a pass
  // reads every thread's memory, which it would report as races.
  (void)detect, (void)stacks;
  PassResult unsupported;
  unsupported.error = "leak passes are not supported under ThreadSanitizer";
  return unsupported;
#endif
  std::lock_guard<std::mutex> lock(pass_mu);
  traceback_init();
  // Map the runtime's regions now if nothing did yet: mapping them while
  // the world is stopped would put them in /proc/self/maps after the
  // classification read the runtime-mapping table.
  (void)stack_region();
  (void)arena_range();
  Pass& p = *new_pass(detect, stacks);
  p.start_ns = nanotime();
  struct Destroy {
    Pass& p;
    ~Destroy() { p.~Pass(); }
  } destroy{p};
  p.entry_sp = pass_entry_sp(caller_sp());
  getcontext(&p.self_uc);
  {
    std::lock_guard<std::mutex> no_reclaim(reclaim_mutex());
    with_loader_lock([&p] { stopped_phase(p); });
    if (p.ok) unwind_stacks(p, /*leaked=*/true);
  }
  p.total_ns = nanotime() - p.start_ns;

  PassResult res;
  res.ok = p.ok;
  res.pause_ns = p.pause_ns;
  res.total_ns = p.total_ns;
  res.scanned_bytes = p.marked.scanned_bytes;
  res.mark_workers = p.marked.workers;
  if (!p.ok) {
    res.error = p.why;
    return res;
  }
  std::size_t nframes = 0;
  for (int i = 0; i < p.ng; i++) nframes += std::size_t(p.gs[i].npcs);
  res.frames.reserve(nframes);
  res.gs.reserve(std::size_t(p.ng));
  for (int i = 0; i < p.ng; i++) {
    GRecord r = p.gs[i];
    // Drop the runtime addresses: freed, this heap copy would be scanned by
    // the next pass, reach the stacks, and send it chasing descriptors.
    r.g = nullptr;
    r.regs = nullptr;
    r.lo = r.hi = r.live_lo = 0;
    std::size_t at = res.frames.size();
    res.frames.insert(res.frames.end(), r.pcs, r.pcs + r.npcs);
    r.pcs = reinterpret_cast<uintptr_t*>(at);  // rebased below
    res.leaked += r.leaked;
    res.gs.push_back(r);
  }
  for (GRecord& r : res.gs) r.pcs = res.frames.data() + reinterpret_cast<uintptr_t>(r.pcs);
  std::sort(res.gs.begin(), res.gs.end(), [](const GRecord& a, const GRecord& b) { return a.id < b.id; });
  return res;
}

PassEntry::PassEntry(uintptr_t sp) : saved_(tls_entry) { tls_entry = sp; }
PassEntry::~PassEntry() { tls_entry = saved_; }

}  // namespace stray::rt
