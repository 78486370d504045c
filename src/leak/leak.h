// leak.h — the goroutine leak detector's pass (Go 1.26: the goroutineleak
// profile; the ASPLOS'25 paper "Dynamic Partial Deadlock Detection and
// Recovery via Garbage Collection"), shared by its phases:
//
//   1. stop      (stw.cc)    stop every thread, capture its registers
//   2. classify  (roots.cc)  sort /proc/self/maps into runtime memory and roots
//   3. mark      (mark.cc)   conservative scan from the roots, around the
//                            tracked heap blocks in them (runtime/heap.h);
//                            channels and reached heap blocks are followed
//   4. fixpoint  (mark.cc)   a blocked goroutine whose wait address is
//                            reached is eventually runnable: its stack joins
//                            the roots; repeat until nothing changes
//   5. report    (report.cc) never-runnable blocked goroutines are leaked
//
// The driver (leak.cc) runs 1-4 and the capture of stacks with the world
// stopped, or runs 2-4 in a forked snapshot of the stopped process
// (snapshot.cc, STRAY_LEAK_MODE); those phases read memory and write only
// Scratch memory, never malloc and never take a lock another thread could
// hold.
//
// Soundness rule (DESIGN.md §1): whatever the pass cannot classify is a
// root; a goroutine is reported only if nothing reachable can wake it.
#pragma once

#include <sys/types.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "runtime/fn_ref.h"
#include "runtime/g.h"
#include "runtime/mem.h"
#include "runtime/stw.h"
#include "runtime/traceback.h"

namespace stray::rt {

// One goroutine as the stopped world showed it.
struct GRecord {
  G* g = nullptr;
  uint64_t id = 0;
  Gstatus status = Gstatus::dead;
  WaitReason reason = WaitReason::none;
  int64_t waitsince = 0;
  uint64_t parent_id = 0;
  uintptr_t create_pc = 0;
  const Account* account = nullptr;  // whom it is charged to (stray::testing)
  uint64_t lock_holder = 0;  // waiting on a Mutex: the goroutine holding it
  uintptr_t lo = 0, hi = 0;  // its stack
  uintptr_t live_lo = 0;     // lowest live address: saved or interrupted stack pointer
  const arch::Regs* regs = nullptr;  // a running goroutine's interrupted registers

  // Mark state.
  bool blocked = false;       // waiting on something other than a timer
  bool runnable = false;      // a root, or found eventually runnable
  bool stack_reached = false; // some reached word points into its stack
  int32_t stack_waiters = -1; // first Waiter blocked on an address in this stack

  bool leaked = false;  // the verdict (or reported by an earlier pass)

  // Stack, innermost first; pc0_exact: pcs[0] is an interrupted pc, not a
  // return address.
  uintptr_t* pcs = nullptr;
  int npcs = 0;
  bool pc0_exact = false;
  uint64_t runs = 0;   // G::runs when the world stopped
  bool fresh = false;  // pcs walked by this pass, not taken from G::frames
};

// The goroutine records of a pass, sorted by stack address, with the
// search keys apart from the records: a compact array stays in cache,
// 100k records do not.
struct GTable {
  GRecord* gs = nullptr;
  uintptr_t* his = nullptr;  // gs[i].hi, ascending
  int n = 0;

  // The live goroutine whose stack contains p, or null.
  GRecord* find_stack(uintptr_t p) const {
    int i = int(std::upper_bound(his, his + n, p) - his);  // first stack ending above p
    return i < n && gs[i].lo <= p ? &gs[i] : nullptr;
  }
};

// A block of memory to scan. around_heap: root memory from a mapping,
// scanned around the live tracked allocations inside it (heap.h); other
// ranges (registers, a signal stack's frames, what marking reached) are
// scanned whole.
struct ScanRange {
  uintptr_t lo, hi;
  bool around_heap = false;
};

// Growable array in Scratch memory (usable while the world is stopped).
template <class T>
struct ScratchVec {
  T* data = nullptr;
  std::size_t n = 0, cap = 0;
  bool push(Scratch& s, const T& v) {
    if (n == cap) {
      std::size_t nc = cap ? 2 * cap : 256;
      T* nd = s.alloc<T>(nc);
      if (!nd) return false;
      for (std::size_t i = 0; i < n; i++) nd[i] = data[i];
      data = nd;
      cap = nc;
    }
    data[n++] = v;
    return true;
  }
};

// Phase 2 output: what the mark phase starts from.
struct Roots {
  ScratchVec<ScanRange> ranges;  // root memory and root registers
  uint64_t bytes = 0;            // total root memory

  // Adds root memory [lo, hi); false when scratch memory ran out.
  bool add(Scratch& s, uintptr_t lo, uintptr_t hi, bool around_heap = false) {
    bytes += hi - lo;
    return ranges.push(s, {lo, hi, around_heap});
  }
};

// /proc/self/maps, parsed.
struct Mapping {
  uintptr_t lo, hi;
  char perms[5];
  const char* path;  // points into the maps text; ends at '\n'
  std::size_t pathlen;
};
// The next line of a maps text (advancing p); false at its end.
bool next_mapping(const char*& p, Mapping* m);
bool path_is(const Mapping& m, const char* prefix);
// Readable and writable, and not a device (reading one may have side
// effects; /dev/zero and /dev/shm are memory): what phase 2 may scan.
bool user_writable(const Mapping& m);

// A /proc file read whole into scratch memory (NUL-terminated); null with
// errno set on failure. System calls only.
char* read_proc_file(Scratch& s, const char* path);
// /proc/self/maps; null with a one-line reason in why.
const char* read_maps(Scratch& s, char* why, std::size_t whylen);

// Phase 2: classifies the address space as `maps` (read_maps, while the
// world was stopped) lists it. entry_sp: the pass thread's stack pointer
// at its public entry (its frames below are the detector's). False if
// scratch memory ran out.
bool classify(const World& w, uintptr_t entry_sp, const GTable& g, const char* maps, Scratch& s, Roots* roots);

// Phases 3 and 4: marks from the roots and runs the fixpoint; sets
// GRecord::leaked. False if scratch memory ran out.
struct MarkStats {
  uint64_t scanned_bytes = 0;
  int workers = 0;  // threads that marked
};
bool mark(const GTable& g, Roots& roots, Scratch& s, MarkStats* stats);

// A pass's outcome, in ordinary memory once the world runs again.
// Destroyed, it clears its records: left in freed heap memory, their
// pointers into `frames` (100,000 at 100,000 goroutines) would each cost
// the next pass's sweep a search for a block that is gone.
struct PassResult {
  PassResult() = default;
  PassResult(PassResult&&) = default;
  PassResult& operator=(PassResult&&) = default;
  ~PassResult();

  bool ok = false;
  std::string error;            // why there is no report
  std::vector<GRecord> gs;      // live goroutines, by id; pcs point into `frames`
  std::vector<uintptr_t> frames;
  int leaked = 0;
  int64_t pause_ns = 0;         // world stopped
  int64_t total_ns = 0;         // the whole pass, stacks included
  uint64_t scanned_bytes = 0;
  int mark_workers = 0;
  bool snapshot = false;        // the analysis ran in a snapshot (else in place)
  std::string fallback;         // why a snapshot pass ran in place
};

enum class Stacks { none, leaked, all };

// ---- snapshot passes (snapshot.cc) ----
//
// A snapshot pass stops the world, captures the registers and the
// goroutine table, forks, and restarts the world: the child classifies,
// marks and runs the fixpoint in its copy-on-write image of the stopped
// process, and answers through a pipe.

// Whether a fork copies every mapping of `maps` (read while the world is
// stopped) that phase 2 would scan; false with a reason naming one that it
// would not copy but share (a writable shared mapping).
bool snapshot_copies_all(const char* maps, char* why, std::size_t whylen);

// In the child: whether its image holds every mapping of the parent's
// `maps` that phase 2 would scan, with its contents (MADV_DONTFORK and
// MADV_WIPEONFORK mappings do not); false with a reason. Reads
// /proc/self/smaps into buf, of smaps_buffer_size(maps) bytes, which the
// parent allocates before the fork: the child must map nothing first.
std::size_t smaps_buffer_size(const char* maps);
bool snapshot_is_complete(const char* parent_maps, char* buf, std::size_t len, char* why, std::size_t whylen);

// The child's answer: buffered writes to the pipe (no malloc).
class AnswerWriter {
 public:
  AnswerWriter(int fd, char* buf);  // buf: 64 KiB, or null (unbuffered)
  void put(const void* p, std::size_t n);
  template <class T>
  void put(const T& v) {
    put(&v, sizeof v);
  }
  bool flush();  // false if a write failed

 private:
  int fd_;
  char* buf_;
  std::size_t len_ = 0;
  bool ok_ = true;
};

// One snapshot child.
class Snapshot {
 public:
  Snapshot() = default;
  Snapshot(const Snapshot&) = delete;
  Snapshot& operator=(const Snapshot&) = delete;
  ~Snapshot();  // kills and reaps a child not finished

  // With the world stopped: forks a child that runs work(out) and exits.
  // Whatever the child needs from s is allocated here, before the fork.
  // False, with a reason, when the kernel refuses the fork (memory,
  // RLIMIT_NPROC, a seccomp filter): nothing was started.
  bool start(FnRef<void(AnswerWriter&)> work, Scratch& s, char* why, std::size_t whylen);

  // With the world running: reads the child's whole answer and reaps it.
  // False, with a reason, when the child did not exit normally (killed,
  // crashed); the answer is then partial.
  bool finish(std::vector<char>* answer, char* why, std::size_t whylen);

 private:
  int reap();  // closes the pipe, waits for the child; its wait status
  pid_t pid_ = 0;
  int fd_ = -1;
};

// Tests only: run first in every snapshot child (to kill it, or make it
// hang until killed).
extern void (*snapshot_child_test_hook)();

// The driver: one pass (serialised process-wide). detect: run mark and
// fixpoint and mark leaked goroutines; otherwise only snapshot. stacks:
// whose stacks to unwind while the world is stopped.
PassResult run_pass(bool detect, Stacks stacks);

// Widens what a pass on this thread takes as the detector's own frames:
// from `sp` down (the stack pointer of a caller further up) instead of
// from run_pass's caller down, while the object lives. For wrappers that
// run passes from frames of their own (stray::testing's checks: options,
// lists of earlier looks, retry state), which hold no reference to user
// memory that the caller does not hold too: their stale slots — what the
// test's deeper calls left on the stack — would otherwise be roots that
// hide a leak. Ignored unless sp is above run_pass's caller, within 1 MiB.
class PassEntry {
 public:
  explicit PassEntry(uintptr_t sp);
  ~PassEntry();
  PassEntry(const PassEntry&) = delete;
  PassEntry& operator=(const PassEntry&) = delete;

 private:
  uintptr_t saved_;
};

// STRAY_LEAK_VERBOSE=1: the phases say what they classified, and why each
// goroutine was found runnable (every conservative decision). vlog writes
// one line straight to fd 2: usable while the world is stopped (no stdio
// lock, no malloc).
bool verbose();
[[gnu::format(printf, 1, 2)]] void vlog(const char* fmt, ...);

// Zeroes up to n bytes of dead stack below the caller's stack pointer
// (on a goroutine, never into its canary). A pass scans its callers' frames
// as roots, and slots they never wrote still hold what earlier, deeper
// calls left there — a stale channel handle or closure address keeps a
// leak alive. The public entries call this first and do their work in a
// callee, whose frames then start out clean.
void scrub_dead_stack(std::size_t n);

}  // namespace stray::rt
