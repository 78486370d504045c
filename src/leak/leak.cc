// leak.cc — the leak pass's driver: runs the phases of leak.h in order,
// in one of two modes (STRAY_LEAK_MODE).
//
// In place: with the world stopped (inside with_loader_lock, see
// traceback.h): stop, capture the goroutine table and the maps, classify,
// mark + fixpoint, mark the leaked ones, unwind the other stacks the
// caller wants, restart.
//
// Snapshot (snapshot.cc): with the world stopped: stop, capture the
// goroutine table and the maps, fork, restart. The child classifies,
// marks, runs the fixpoint and unwinds the other stacks in its image of
// the stopped process, and answers with the leaked records and those
// stacks; the parent then marks the leaked goroutines. Why that is sound
// although the world ran in between: a goroutine the snapshot proves
// leaked is blocked, and nothing reachable in the snapshot — no root, no
// runnable goroutine, nothing they point to — can reach what it waits on.
// What runs after the restart starts from that reachable memory (new
// goroutines and new data are made from it), and unreachable memory
// never becomes reachable again: no pointer to it exists to be copied.
// So nothing has woken the goroutine since, nothing ever will, and it is
// still the same parked G. (The one exception, a reclaim resuming leaked
// goroutines, waits for reclaim_mutex, which the pass holds.)
//
// Either way, the leaked goroutines' stacks are unwound after the restart
// (they never run again), and the records are copied out, in ordinary
// memory, for report.cc.
#include <ucontext.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "leak/leak.h"
#include "runtime/arch.h"
#include "runtime/arena.h"
#include "runtime/lock.h"
#include "runtime/options.h"
#include "runtime/proc.h"
#include "runtime/sema.h"

namespace stray::rt {
namespace {

std::mutex pass_mu;  // one pass at a time (a plain mutex: see HACKING.md)

enum class Mode { automatic, snapshot, inplace };  // options.inc's order

struct Pass {
  Pass(bool d, Stacks st, Mode m, G* self) : detect(d), stacks(st), mode(m), self_g(self) {}
  bool detect;
  Stacks stacks;
  Mode mode;
  uintptr_t entry_sp = 0;
  ucontext_t self_uc = {};  // the pass thread's registers at entry
  G* self_g;                // the goroutine running the pass, if any
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
  const char* maps = nullptr;    // /proc/self/maps as the stopped world had it
  Snapshot snap;
  bool forked = false;      // the analysis runs in snap's child
  bool in_child = false;    // this is that child
  char* smaps = nullptr;    // the child's buffer for /proc/self/smaps
  std::size_t smaps_len = 0;
  char fallback[256] = "";  // why a snapshot pass ran in place
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
  r.runs = g->runs;
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

// Parked stacks' frames kept across passes (G::frames): a goroutine that
// has not run since a pass unwound it is still parked in the same frames,
// so the next pass copies them instead of reading its stack again (a cache
// and TLB miss or two per goroutine: most of a profile of 100,000 parked
// goroutines). The frames are interned here, in runtime memory usable
// while the world is stopped, and never freed; when the table is full,
// new stacks are simply not kept. Touched only by the pass thread, under
// pass_mu.
class FrameCache {
 public:
  // pcs[0..n) interned; null when full.
  const uintptr_t* intern(const uintptr_t* pcs, int n) {
    uint64_t h = 0x9E3779B97F4A7C15ull ^ uint64_t(n);
    for (int i = 0; i < n; i++) h = (h ^ pcs[i]) * 0xff51afd7ed558ccdull;
    for (uint32_t i = uint32_t(h >> 40) & (kSlots - 1);; i = (i + 1) & (kSlots - 1)) {
      Entry& e = table_[i];
      if (!e.pcs) {
        if (count_ >= kSlots / 4 * 3 || used_ + std::size_t(n) > kWords) return nullptr;
        e = {h, n, words_ + used_};
        for (int k = 0; k < n; k++) words_[used_ + std::size_t(k)] = pcs[k];
        used_ += std::size_t(n);
        count_++;
        return e.pcs;
      }
      if (e.hash == h && e.n == n && memcmp(e.pcs, pcs, sizeof(uintptr_t) * std::size_t(n)) == 0) return e.pcs;
    }
  }

 private:
  static constexpr uint32_t kSlots = 1 << 16;     // distinct stacks
  static constexpr std::size_t kWords = 1 << 21;  // their frames (16 MiB)
  struct Entry {
    uint64_t hash;
    int n;
    const uintptr_t* pcs;  // null: free
  };
  Entry table_[kSlots];
  uintptr_t words_[kWords];
  std::size_t used_ = 0;
  uint32_t count_ = 0;
};

FrameCache* frame_cache() {
  static FrameCache* c = ::new (sys_reserve(sizeof(FrameCache), "the leak pass's stack cache")) FrameCache;
  return c;
}

// Keeps a record's freshly walked frames in its G. Only where the G cannot
// run meanwhile: with the world stopped, or for a leaked G.
void keep_frames(GRecord& r) {
  if (!r.fresh || r.npcs <= 0) return;
  if (const uintptr_t* f = frame_cache()->intern(r.pcs, r.npcs)) {
    r.g->frames = f;
    r.g->frames_n = r.npcs;
    r.g->frames_id = r.id;
    r.g->frames_runs = r.runs;
  }
}

// Unwinds into a buffer on this stack, then keeps just the frames found:
// kMaxFrames slots per goroutine would have the pass touch (and the
// kernel zero) 50 MB of scratch at 100,000 goroutines.
void unwind(Pass& p, GRecord& r) {
  uintptr_t pcs[kMaxFrames];
  int n = 0;
  const G* g = r.g;
  if (g == p.self_g) {
    n = traceback_regs(arch::regs_of(&p.self_uc), pcs, kMaxFrames);
  } else if (r.regs) {
    n = traceback_regs(*r.regs, pcs, kMaxFrames);
    r.pc0_exact = true;
  } else if (r.status != Gstatus::running && g->frames && g->frames_id == r.id && g->frames_runs == r.runs) {
    n = g->frames_n;
    memcpy(pcs, g->frames, sizeof(uintptr_t) * std::size_t(n));
  } else if (r.status != Gstatus::running) {
    n = traceback_parked(g->ctx, pcs, kMaxFrames, p.walks);
    r.fresh = true;
  }
  r.pcs = p.scratch.alloc<uintptr_t>(std::size_t(n > 0 ? n : 1));
  if (!r.pcs) return;
  for (int i = 0; i < n; i++) r.pcs[i] = pcs[i];
  r.npcs = n;
}

// Snapshot of the goroutine table, sorted by stack address. False when
// scratch memory ran out. The live goroutines are sorted as (stack, G*)
// pairs and their records filled in that order: sorting the records
// themselves moved 100,000 of them (13 MB) in the pause.
bool snapshot_goroutines(Pass& p, GTable* table) {
  struct Live {
    uintptr_t lo;
    G* g;
  };
  ScratchVec<Live> live;
  bool ok = true;
  for_each_g([&](G* g) {
    if (g->status.load(std::memory_order_acquire) != Gstatus::dead)
      ok = ok && live.push(p.scratch, {reinterpret_cast<uintptr_t>(g->stack.lo), g});
  });
  if (!ok) return false;
  std::sort(live.data, live.data + live.n, [](const Live& a, const Live& b) { return a.lo < b.lo; });
  Fill f{p.scratch.alloc<GRecord>(live.n + 1), 0, int(live.n)};
  if (!f.gs) return false;
  constexpr std::size_t kAhead = 8;  // G structs are scattered: fetch ahead
  for (std::size_t i = 0; i < live.n; i++) {
    if (i + kAhead < live.n) __builtin_prefetch(live.data[i + kAhead].g);
    fill_record(live.data[i].g, &f);
  }
  p.gs = f.gs;
  p.ng = f.n;
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
  for (int i = 0; i < p.ng && p.scratch.ok(); i++) {
    if (p.gs[i].leaked != leaked) continue;
    unwind(p, p.gs[i]);
    if (!p.in_child) keep_frames(p.gs[i]);  // a snapshot child's writes would be lost
  }
}

// Phases 2-4 and the other stacks, on the stopped world or its snapshot.
bool analyse(Pass& p, GTable& table) {
  Roots roots;
  if (!classify(p.world, p.entry_sp, table, p.maps, p.scratch, &roots)) return false;  // 2. classify
  if (p.detect && !mark(table, roots, p.scratch, &p.marked)) return false;            // 3-4. mark, fixpoint
  unwind_stacks(p, /*leaked=*/false);
  return p.scratch.ok();
}

// The snapshot child's answer (native layout: the same binary reads it):
// an AnswerHead, the indices of the leaked records (int32), then for each
// stack it unwound: index, frame count, pc0_exact (three int32) and the
// frames; then kAnswerEnd.
constexpr uint32_t kAnswerMagic = 0x5354524c, kAnswerEnd = 0x454e4421;
struct AnswerHead {
  uint32_t magic = kAnswerMagic;
  bool complete = false;  // the image holds every mapping phase 2 scans
  bool ok = false;        // the analysis ran
  char why[256] = "";     // why not
  uint64_t scanned_bytes = 0;
  int32_t mark_workers = 0;
  int32_t nleaked = 0;
  int32_t nstacks = 0;
};

// In the snapshot child.
void child_phase(Pass& p, GTable& table, AnswerWriter& out) {
  p.in_child = true;
  AnswerHead h;
  h.complete = snapshot_is_complete(p.maps, p.smaps, p.smaps_len, h.why, sizeof h.why);
  h.ok = h.complete && analyse(p, table);
  if (h.complete && !h.ok) snprintf(h.why, sizeof h.why, "leak pass: out of scratch memory in the snapshot (mmap failed)");
  h.scanned_bytes = p.marked.scanned_bytes;
  h.mark_workers = p.marked.workers;
  for (int i = 0; h.ok && i < p.ng; i++) {
    h.nleaked += p.gs[i].leaked;
    h.nstacks += p.gs[i].npcs > 0;
  }
  out.put(h);
  for (int32_t i = 0; h.ok && i < p.ng; i++)
    if (p.gs[i].leaked) out.put(i);
  for (int32_t i = 0; h.ok && i < p.ng; i++) {
    const GRecord& r = p.gs[i];
    if (r.npcs <= 0) continue;
    int32_t rec[3] = {i, r.npcs, r.pc0_exact};
    out.put(rec);
    out.put(r.pcs, sizeof(uintptr_t) * std::size_t(r.npcs));
  }
  out.put(kAnswerEnd);
}

// Reads an answer (see AnswerHead) into the records.
struct AnswerReader {
  const char* p;
  const char* end;
  template <class T>
  bool get(T* v, std::size_t n = 1) {
    if (std::size_t(end - p) < sizeof(T) * n) return false;
    memcpy(v, p, sizeof(T) * n);
    p += sizeof(T) * n;
    return true;
  }
};

bool take_answer(Pass& p, const std::vector<char>& answer, AnswerHead* h) {
  AnswerReader in{answer.data(), answer.data() + answer.size()};
  if (!in.get(h) || h->magic != kAnswerMagic) return false;
  if (!h->ok) return true;
  for (int32_t k = 0, i; k < h->nleaked; k++) {
    if (!in.get(&i) || i < 0 || i >= p.ng) return false;
    p.gs[i].leaked = true;
  }
  for (int32_t k = 0, rec[3]; k < h->nstacks; k++) {
    if (!in.get(rec, 3) || rec[0] < 0 || rec[0] >= p.ng || rec[1] < 0 || rec[1] > kMaxFrames) return false;
    GRecord& r = p.gs[rec[0]];
    r.pcs = p.scratch.alloc<uintptr_t>(std::size_t(rec[1]));
    if (!r.pcs || !in.get(r.pcs, std::size_t(rec[1]))) return false;
    r.npcs = rec[1];
    r.pc0_exact = rec[2];
  }
  uint32_t endmark = 0;
  return in.get(&endmark) && endmark == kAnswerEnd;
}

// Auto mode's choice: a snapshot when the fork is expected to stop the
// world for at most half as long as the pass would in place, and at least
// kWorthForking less; false with the estimates in p.fallback otherwise.
// The margins: a snapshot pass takes longer in all (about 1.5x at 1 GiB:
// the child's first touch of each page costs more than the program's, its
// page tables being new), which is not worth a millisecond or two, or a
// few tens of percent, of pause. From /proc/self/status, with
// coefficients measured on x86-64 (2 vCPUs, Linux 6.18; docs/decisions.md):
//   fork      0.5 ms (the child's start and the pipe; a small pass in
//             place costs less) + 1.1 µs per KiB of page tables (VmPTE;
//             the kernel copies each table page, 512 entries scanned) +
//             6 ns per resident KiB;
//   in place  marking: 65 ns per resident KiB (scanned) + 0.4 µs per
//             goroutine; unwinding the others' stacks: 0.15 µs per goroutine.
// Many goroutines make the fork dear: each 256 KiB stack reservation
// spreads the pages it touched over page tables of their own.
constexpr double kWorthForking = 5000;  // µs of pause

bool snapshot_pays(Pass& p) {
  Range shadow[4];
  if (arch::sanitizer_shadow(shadow, 4) > 0) {
    // A sanitizer's shadow has page tables as large as the program's
    // memory (a fork copies them), and is never scanned in place.
    snprintf(p.fallback, sizeof p.fallback, "in place under a sanitizer: a fork would copy its shadow's page tables");
    return false;
  }
  char status[4096];
  read_small("/proc/self/status", status, sizeof status);
  double rss = double(std::max(proc_kb(status, "VmRSS:"), 0LL)), pte = double(std::max(proc_kb(status, "VmPTE:"), 0LL));
  double fork_us = 500 + 1.1 * pte + 0.006 * rss;
  double inplace_us = (p.detect ? 0.065 * rss + 0.4 * p.ng : 0) + (p.stacks == Stacks::all ? 0.15 * p.ng : 0);
  if (inplace_us >= 2 * fork_us && inplace_us - fork_us >= kWorthForking) return true;
  snprintf(p.fallback, sizeof p.fallback, "in place was estimated to stop the world for %.1f ms, a fork for %.1f ms",
           inplace_us / 1e3, fork_us / 1e3);
  return false;
}

// Whether this pass may, and can, fork; sets p.fallback or p.why if not.
bool fork_snapshot(Pass& p, GTable& table) {
  if (p.mode == Mode::inplace || (p.mode == Mode::automatic && !snapshot_pays(p))) return false;
  p.smaps_len = smaps_buffer_size(p.maps);
  p.smaps = p.scratch.alloc<char>(p.smaps_len);
  if (!p.smaps) snprintf(p.fallback, sizeof p.fallback, "leak pass: out of scratch memory for a snapshot (mmap failed)");
  bool forked = p.smaps && snapshot_copies_all(p.maps, p.fallback, sizeof p.fallback) &&
                p.snap.start([&p, &table](AnswerWriter& out) { child_phase(p, table, out); }, p.scratch, p.fallback,
                             sizeof p.fallback);
  if (!forked && p.mode == Mode::snapshot) {
    memcpy(p.why, p.fallback, sizeof p.why);
    p.ok = false;
  }
  return forked;
}

// Everything that needs the world stopped: the phases of leak.h in order,
// or, for a snapshot pass, what the fork needs.
void stopped_phase(Pass& p) {
  int64_t t0 = nanotime();
  if (!stop_the_world(&p.world, p.scratch, p.why, sizeof p.why)) return;  // 1. stop
  GTable table;
  p.ok = snapshot_goroutines(p, &table) && (p.maps = read_maps(p.scratch, p.why, sizeof p.why));
  if (p.ok) p.forked = fork_snapshot(p, table);
  if (p.ok && !p.forked) {
    p.ok = analyse(p, table);
    if (p.ok && p.detect) mark_leaked(p);  // 5. verdict
  }
  start_the_world(&p.world);
  p.pause_ns += nanotime() - t0;
  if (!p.ok && !p.why[0]) snprintf(p.why, sizeof p.why, "leak pass: out of scratch memory (mmap failed)");
}

// After a snapshot pass's restart: the child's answer becomes the verdict
// (see the file comment for why it still holds). An incomplete snapshot
// runs the pass again in place, unless the mode demands a snapshot.
void finish_snapshot(Pass& p) {
  std::vector<char> answer;
  AnswerHead h;
  if (!p.snap.finish(&answer, p.why, sizeof p.why)) {
    p.ok = false;
    return;
  }
  if (!take_answer(p, answer, &h)) {
    p.ok = false;
    snprintf(p.why, sizeof p.why, "leak pass: the snapshot process's answer is malformed (%zu bytes)", answer.size());
    return;
  }
  if (!h.complete && p.mode == Mode::automatic) {
    memcpy(p.fallback, h.why, sizeof p.fallback);
    p.forked = false;
    p.mode = Mode::inplace;
    for (int i = 0; i < p.ng; i++) p.gs[i] = GRecord{};
    p.ng = 0;
    with_loader_lock([&p] { stopped_phase(p); });
    return;
  }
  if (!h.ok) {
    p.ok = false;
    memcpy(p.why, h.why, sizeof p.why);
    return;
  }
  p.marked.scanned_bytes = h.scanned_bytes;
  p.marked.workers = h.mark_workers;
  if (p.detect) mark_leaked(p);  // 5. verdict
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
  auto mode = Mode(options().leak_mode);
  return ::new (mem) Pass(detect, stacks, mode, current_goroutine());
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
  (void)frame_cache();
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
    if (p.ok && p.forked) finish_snapshot(p);
    if (p.ok) unwind_stacks(p, /*leaked=*/true);
  }
  p.total_ns = nanotime() - p.start_ns;

  PassResult res;
  res.ok = p.ok;
  res.pause_ns = p.pause_ns;
  res.total_ns = p.total_ns;
  res.scanned_bytes = p.marked.scanned_bytes;
  res.mark_workers = p.marked.workers;
  res.snapshot = p.forked;
  res.fallback = p.fallback;
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

PassResult::~PassResult() {
  if (!gs.empty()) explicit_bzero(gs.data(), gs.size() * sizeof(GRecord));
}

PassEntry::PassEntry(uintptr_t sp) : saved_(tls_entry) { tls_entry = sp; }
PassEntry::~PassEntry() { tls_entry = saved_; }

}  // namespace stray::rt
