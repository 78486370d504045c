// roots.cc — phase 2 of the leak pass: classify memory (see leak.h).
//
// Every readable, writable mapping of /proc/self/maps is one of:
// * runtime memory (mem.h's table: the goroutine stack region, the arena,
//   side tables, the detector's scratch) and sanitizer shadow: never
//   scanned conservatively; goroutine stacks and channels are reached
//   through mark.cc's precise rules;
// * everything else: a root — data and bss of every object, TLS, the
//   malloc heap, unknown mmaps — scanned around the live tracked
//   allocations inside it (heap.h: those are scanned only when reached),
//   except the dead part of a thread
//   stack, below the thread's stack pointer minus the red zone (for the
//   thread running the pass: below its public entry frame; for a runtime
//   worker: its scheduler frames, which hold only runtime state).
// A stack is cut only where the mapping is surely a thread stack (the
// process's [stack], or a mapping right above a guard page, as pthread
// stacks are): an anonymous mapping merged with its neighbours could hold
// other data below the cut. Device mappings (/dev/..., except /dev/zero and
// /dev/shm) are not read: reading them may have side effects.
// Pages that /proc/self/pagemap shows neither present nor swapped are
// skipped in private mappings: they read as zeros, or as the bytes of the
// mapped file, which hold no address the process made. Shared mappings are
// scanned whole: their absent pages may hold what another mapping of the
// same memory wrote.
//
// When a cut is sure (cut_point): a mapping M is cut at the lowest stack
// pointer in it only if every thread whose stack pointer lies in M owns M,
// and every thread that owns M was interrupted in M on its ordinary stack.
// A thread owns the mapping that holds its thread pointer (glibc puts the
// thread descriptor at the top of the thread's stack block), or [stack] for
// the initial thread. Anything else — a thread on its alternate signal
// stack (SS_ONSTACK: its interrupted frames lie elsewhere, possibly above
// the handler's buffer), a thread running on a coroutine stack carved out
// of some stack mapping, a thread not made by glibc — leaves M uncut,
// scanned whole: a missed live frame would be a false positive, a scanned
// dead one only a possible false negative.
//
// Registers of every stopped thread are roots too, except those of a
// worker interrupted in its scheduler (runtime state only). A worker is in
// its scheduler when its stack pointer is on its own stack and no signal
// frame (sigreturn_trampoline) lies between it and the scheduler's top; a
// worker interrupted on its alternate signal stack may have been running a
// goroutine anywhere in it, so its registers are roots and that
// goroutine's whole stack is live (a running goroutine's saved stack
// pointer is stale then).
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "leak/leak.h"
#include "runtime/arch.h"
#include "runtime/proc.h"

namespace stray::rt {
namespace {

using arch::kRedZone;

int glibc_arena_headers(const char* maps, const Range* skip, int nskip, Scratch& s, Range* out, int max);

// Memory the detector never reads as roots.
int excluded_ranges(const char* maps, Scratch& s, Range* out, int max) {
  int n = runtime_mappings(out, max - 2 - 64);
  n += arch::sanitizer_shadow(out + n, max - n - 64);
  n += glibc_arena_headers(maps, out, n, s, out + n, max - n);
  // Sort by start for the subtraction in add_range.
  for (int i = 1; i < n; i++)
    for (int j = i; j > 0 && out[j].lo < out[j - 1].lo; j--) std::swap(out[j], out[j - 1]);
  return n;
}

uintptr_t parse_hex(const char*& p) {
  uintptr_t v = 0;
  for (;; p++) {
    char c = *p;
    if (c >= '0' && c <= '9') v = v * 16 + uintptr_t(c - '0');
    else if (c >= 'a' && c <= 'f') v = v * 16 + uintptr_t(c - 'a' + 10);
    else return v;
  }
}

// glibc's arena headers. struct malloc_state's fastbinsY, top,
// last_remainder and bins hold the addresses of free chunks, and the
// address of a chunk is the last 8 bytes of the live block before it, or
// its end: scanned as roots they would reach that block, whatever it
// holds. They are allocator metadata, never user data, so they are not
// roots. Found by shape, for main_arena in libc's data and for a thread
// arena at the start of its 64 MiB heap: bins[] is 127 (fd, bk) pairs,
// each an empty bin (both point at the bin itself, 16 bytes before the
// pair) or the head of a doubly linked list whose ends point back at the
// bin. Only a region that passes all 127 checks is excluded; anything else
// stays a root. The layout (10 fastbin heads, top, last_remainder, then
// bins) is glibc's on 64-bit since 2.26. Memory is read through
// /proc/self/mem: a probed page may be a guard page, which would fault.
constexpr int kBinPairs = 127;
constexpr uintptr_t kFastbinHeads = 10;

struct MemReader {
  int fd;
  bool word(uintptr_t a, uintptr_t* v) const { return pread(fd, v, 8, off_t(a)) == 8; }
};

// Whether the 127 pairs at a are glibc's bins; copy: the words at a, read
// already (copy[-2] is the top pointer).
bool bins_at(const MemReader& mem, uintptr_t a, const uintptr_t* copy) {
  // Cheap rejection first, on the copy: the last bins (the largest sizes)
  // are empty.
  for (int k = kBinPairs - 1; k >= kBinPairs - 2; k--) {
    uintptr_t pair = a + 16 * uintptr_t(k);
    if (copy[2 * k] != pair - 16 || copy[2 * k + 1] != pair - 16) return false;
  }
  for (int k = 0; k < kBinPairs; k++) {
    uintptr_t pair = a + 16 * uintptr_t(k), bin = pair - 16, fd = copy[2 * k], bk = copy[2 * k + 1], back;
    if (fd == bin && bk == bin) continue;
    if (!mem.word(fd + 24, &back) || back != bin || !mem.word(bk + 16, &back) || back != bin) return false;
  }
  uintptr_t top;
  return copy[-2] != 0 && mem.word(copy[-2], &top);  // top: a readable chunk
}

// Probes libc's data, and the first page at every 64 MiB boundary inside
// anonymous mappings (a thread arena's heap starts at one; the kernel may
// merge it with a neighbouring mapping) that is not runtime memory (skip).
int glibc_arena_headers(const char* maps, const Range* skip, int nskip, Scratch& s, Range* out, int max) {
  constexpr uintptr_t kHeapAlign = uintptr_t(64) << 20;  // glibc's HEAP_MAX_SIZE
  constexpr uintptr_t kBinsBytes = 16 * kBinPairs, kBefore = (kFastbinHeads + 2) * 8;
  constexpr int kMaxProbes = 4096;  // 256 GiB of anonymous mappings
  constexpr std::size_t kBuf = 2 * 4096;  // two pages: a header may cross a page boundary
  auto* buf = s.alloc<uintptr_t>(kBuf / 8);
  MemReader mem{buf ? open("/proc/self/mem", O_RDONLY | O_CLOEXEC) : -1};
  if (mem.fd < 0) return 0;
  auto probe = [&](uintptr_t lo, uintptr_t hi, int& n) {
    for (int i = 0; i < nskip; i++)
      if (skip[i].lo < hi && skip[i].hi > lo) return;
    for (uintptr_t page = lo & ~uintptr_t(4095); page < hi; page += 4096) {
      std::size_t len = std::min<uintptr_t>(kBuf, hi - page);
      ssize_t got = pread(mem.fd, buf, len, off_t(page));
      if (got < ssize_t(kBefore + kBinsBytes)) continue;
      for (uintptr_t a = std::max(page, lo) + kBefore; a + kBinsBytes <= page + uintptr_t(got) && a < page + 4096; a += 8)
        if (bins_at(mem, a, buf + (a - page) / 8)) {
          out[n++] = {a - kBefore, a + kBinsBytes};
          if (verbose())
            vlog("leak pass: glibc arena header %#lx-%#lx: not a root", (unsigned long)(a - kBefore),
                 (unsigned long)(a + kBinsBytes));
          return;  // one arena here
        }
    }
  };
  int n = 0, probes = 0;
  Mapping m{};
  for (const char* p = maps; n < max && next_mapping(p, &m);) {
    if (m.perms[0] != 'r' || m.perms[1] != 'w') continue;
    if (m.pathlen > 10 && memmem(m.path, m.pathlen, "/libc.so", 8)) probe(m.lo, m.hi, n);
    if (m.pathlen != 0) continue;
    for (uintptr_t a = (m.lo + kHeapAlign - 1) & ~(kHeapAlign - 1); a < m.hi && n < max && probes < kMaxProbes;
         a += kHeapAlign, probes++)
      probe(a, std::min(m.hi, a + 4096), n);
  }
  close(mem.fd);
  return n;
}

// The mapping of /proc/self/maps that contains p.
bool mapping_of(const char* maps, uintptr_t p, Mapping* out) {
  for (const char* q = maps; next_mapping(q, out);)
    if (p >= out->lo && p < out->hi) return true;
  return false;
}

// Adds [lo, hi) to the roots, skipping pages that were never touched (or
// were given back with MADV_DONTNEED): /proc/self/pagemap shows them
// neither present nor swapped, so they read as zeros and hold no pointer.
// Large NORESERVE reservations cost nothing to scan this way. Without
// pagemap the whole range is added.
constexpr std::size_t kPagemapBatch = 4096;  // entries read at once

struct Pagemap {
  int fd = -1;
  uint64_t* entries = nullptr;  // kPagemapBatch, scratch
};

bool add_touched(Roots* roots, Scratch& s, const Pagemap& pm, uintptr_t lo, uintptr_t hi) {
  constexpr uintptr_t kPage = 4096;
  if (pm.fd < 0 || !pm.entries || hi - lo < 64 * kPage) return roots->add(s, lo, hi, true);
  uintptr_t run = 0;  // start of the current run of touched pages, 0: none
  for (uintptr_t page = lo & ~(kPage - 1); page < hi;) {
    std::size_t n = std::min<std::size_t>(kPagemapBatch, (hi - page + kPage - 1) / kPage);
    ssize_t got = pread(pm.fd, pm.entries, n * 8, off_t(page / kPage * 8));
    if (got != ssize_t(n * 8)) {  // cannot tell: scan the rest
      if (!run) run = std::max(page, lo);
      break;
    }
    for (std::size_t i = 0; i < n; i++, page += kPage) {
      bool touched = pm.entries[i] >> 62;  // bit 63 present, bit 62 swapped
      if (touched && !run) run = std::max(page, lo);
      if (!touched && run) {
        if (!roots->add(s, run, page, true)) return false;
        run = 0;
      }
    }
  }
  return !run || roots->add(s, run, hi, true);
}

// Adds [lo, hi) minus the excluded ranges.
bool add_range(Roots* roots, Scratch& s, const Pagemap& pm, uintptr_t lo, uintptr_t hi, const Range* ex, int nex) {
  for (int i = 0; i < nex && lo < hi; i++) {
    if (ex[i].hi <= lo || ex[i].lo >= hi) continue;
    if (ex[i].lo > lo && !add_touched(roots, s, pm, lo, ex[i].lo)) return false;
    lo = ex[i].hi;
  }
  return lo >= hi || add_touched(roots, s, pm, lo, hi);
}

}  // namespace

namespace {

// One thread's claim on the stack mappings (see the file comment).
struct ThreadStack {
  uintptr_t sp;  // lowest live address of its own stack, if sure
  uintptr_t tp;  // thread pointer
  bool initial;  // the process's initial thread: owns [stack]
  bool sure;     // sp is where its ordinary stack's live part begins
};

// Whether a signal frame lies in [lo, hi) of a stack: its first word is the
// handler's return address, glibc's sigreturn trampoline. Reads another
// thread's frames, redzones included: not instrumented.
__attribute__((no_sanitize("address", "thread"))) bool signal_frame_in(uintptr_t lo, uintptr_t hi) {
  uintptr_t tramp = sigreturn_trampoline();
  if (!tramp || lo >= hi) return !tramp;  // unknown trampoline: assume one is there
  for (uintptr_t a = lo & ~uintptr_t(7); a + 8 <= hi; a += 8)
    if (*reinterpret_cast<const uintptr_t*>(a) == tramp) return true;
  return false;
}

// Phase 2a: threads. Goroutine stacks get their live part and registers;
// root registers are added; each thread's claim goes to `claims`.
bool classify_threads(const World& w, uintptr_t entry_sp, const GTable& g, const char* maps, Scratch& s,
                      Roots* roots, ScratchVec<ThreadStack>* claims) {
  Range stacks = stack_region();
  pid_t pid = w.pid;  // the stopped process's main thread, even in a snapshot
  WorkerInfo wk[256];
  int nw = workers(wk, 256);
  // The pass thread: live from its public entry frame (or, as a worker
  // running the pass from a goroutine, from its scheduler's top).
  const WorkerInfo* self_worker = nullptr;
  for (int i = 0; i < nw; i++)
    if (wk[i].tid == w.self) self_worker = &wk[i];
  if (stacks.contains(entry_sp)) {
    if (GRecord* r = g.find_stack(entry_sp)) r->live_lo = entry_sp;  // the pass's own goroutine
  }
  uintptr_t self_sp = self_worker ? self_worker->g0_top : entry_sp;
  if (!claims->push(s, {self_sp, w.self_tp, w.self == pid, !w.self_onstack})) return false;

  for (int t = 0; t < w.n; t++) {
    const ThreadRegs& th = w.threads[t];
    const WorkerInfo* worker = nullptr;
    for (int i = 0; i < nw; i++)
      if (wk[i].tid == th.tid) worker = &wk[i];
    uintptr_t sp = th.sp - kRedZone;
    bool in_goroutine = stacks.contains(th.sp);
    if (in_goroutine) {
      // Running a goroutine: its stack is live from sp; its registers are roots.
      if (GRecord* r = g.find_stack(th.sp)) {
        r->live_lo = sp < r->lo ? r->lo : sp;
        r->regs = &th.regs;
      }
    }
    if (worker) {
      // Below g0_top only the scheduler runs — unless a signal handler was
      // entered there, or the worker runs elsewhere: on its alternate
      // signal stack, or on a coroutine stack a goroutine switched to
      // (then nothing says where its own stack's live part begins).
      Mapping own{};
      bool on_g0 = !in_goroutine && !th.onstack && mapping_of(maps, worker->g0_top, &own) && th.sp >= own.lo &&
                   th.sp <= worker->g0_top;
      bool handler_on_g0 = on_g0 && signal_frame_in(th.sp, worker->g0_top);
      bool in_scheduler = on_g0 && !handler_on_g0;
      bool sure = in_goroutine || on_g0;
      if (!claims->push(s, {handler_on_g0 ? sp : worker->g0_top, th.tp, th.tid == pid, sure})) return false;
      // Off both its stacks, the worker may be running its goroutine
      // anywhere below the pointer that goroutine saved: all of it is live.
      if (!sure && worker->curg)
        if (GRecord* r = g.find_stack(reinterpret_cast<uintptr_t>(worker->curg->stack.lo))) r->live_lo = r->lo;
      if (in_scheduler) continue;  // runtime registers, runtime frames
      if (verbose() && !in_goroutine)
        vlog("leak pass: worker %d is %s: its registers are roots", int(th.tid),
             th.onstack   ? "in a signal handler on its alternate stack"
             : on_g0      ? "in a signal handler on its scheduler stack"
                          : "off its own stack (a coroutine?)");
    } else if (!claims->push(s, {sp, th.tp, th.tid == pid, !th.onstack})) {
      return false;
    }
    // On its alternate stack: the handlers' frames above the stop signal's
    // own (a worker's alternate stack is runtime memory, never scanned
    // whole: the stop signal's frames there hold its scheduler registers).
    if (th.onstack && th.ss_hi > th.sp && !roots->add(s, th.sp - kRedZone < th.ss_lo ? th.ss_lo : th.sp - kRedZone, th.ss_hi))
      return false;
    if (!roots->ranges.push(s, {uintptr_t(th.regs.w), uintptr_t(th.regs.w + arch::kRegWords)})) return false;
    if (!roots->ranges.push(s, {uintptr_t(th.fp), uintptr_t(th.fp + th.fplen)})) return false;
    if (!roots->ranges.push(s, {uintptr_t(&th.tp), uintptr_t(&th.tp + 1)})) return false;
  }
  return true;
}

// Where the live part of stack mapping m begins: m.lo unless a cut is
// sure (see the file comment).
uintptr_t cut_point(const Mapping& m, bool is_initial_stack, const ScratchVec<ThreadStack>& claims) {
  uintptr_t cut = m.hi;
  for (std::size_t i = 0; i < claims.n; i++) {
    const ThreadStack& c = claims.data[i];
    bool owns = c.initial ? is_initial_stack : (c.tp >= m.lo && c.tp < m.hi);
    bool in = c.sp >= m.lo && c.sp < m.hi;
    if ((in && !owns) || (owns && !(in && c.sure))) {
      if (verbose() && (in || owns))
        vlog("leak pass: stack %#lx-%#lx scanned whole: a thread runs %s", (unsigned long)m.lo, (unsigned long)m.hi,
             in && !owns ? "on it without owning it (a coroutine stack?)"
                         : "off it (alternate signal stack or coroutine)");
      return m.lo;
    }
    if (in && c.sp < cut) cut = c.sp;
  }
  return cut == m.hi ? m.lo : cut & ~uintptr_t(7);
}

// Phase 2b: mappings. Every readable, writable mapping but runtime memory,
// sanitizer shadow, glibc's arena headers and devices is a root; thread
// stacks from their cut.
bool classify_mappings(const ScratchVec<ThreadStack>& claims, const char* maps, Scratch& s, Roots* roots) {
  constexpr int kMaxExcluded = 200;
  Range* ex = s.alloc<Range>(kMaxExcluded);
  if (!ex) return false;
  int nex = excluded_ranges(maps, s, ex, kMaxExcluded);
  Pagemap pm{open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC), s.alloc<uint64_t>(kPagemapBatch)};
  bool ok = true;
  Mapping prev{}, m{};
  for (const char* p = maps; next_mapping(p, &m); prev = m) {
    if (!user_writable(m)) continue;
    uintptr_t lo = m.lo;
    bool initial_stack = path_is(m, "[stack]");
    if (initial_stack || (prev.hi == m.lo && strcmp(prev.perms, "---p") == 0)) lo = cut_point(m, initial_stack, claims);
    uint64_t before = roots->bytes;
    // A page of a shared mapping may hold data though pagemap shows it
    // absent (the page cache keeps it, or another process wrote it):
    // scanned whole.
    if (!(ok = add_range(roots, s, m.perms[3] == 's' ? Pagemap{} : pm, lo, m.hi, ex, nex))) break;
    if (verbose() && roots->bytes > before)
      vlog("leak pass: root %#lx-%#lx %s %.*s: %llu bytes touched%s", (unsigned long)lo, (unsigned long)m.hi, m.perms,
           int(m.pathlen), m.path, (unsigned long long)(roots->bytes - before),
           lo != m.lo ? " (live part of a thread stack)" : "");
  }
  if (pm.fd >= 0) close(pm.fd);
  return ok;
}

}  // namespace

char* read_proc_file(Scratch& s, const char* path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return nullptr;
  std::size_t cap = 1 << 20, len = 0;
  char* buf = s.alloc<char>(cap);
  int err = buf ? 0 : ENOMEM;
  while (buf) {
    ssize_t got = read(fd, buf + len, cap - len - 1);
    if (got < 0) {
      err = errno;
      buf = nullptr;
      break;
    }
    if (got == 0) break;
    len += std::size_t(got);
    if (len + 1 == cap) {
      char* nb = s.alloc<char>(cap * 2);
      if (nb) memcpy(nb, buf, len);
      else err = ENOMEM;
      buf = nb;
      cap *= 2;
    }
  }
  close(fd);
  if (buf) buf[len] = 0;
  errno = err;
  return buf;
}

bool next_mapping(const char*& p, Mapping* m) {
  if (!*p) return false;
  m->lo = parse_hex(p);
  p++;  // '-'
  m->hi = parse_hex(p);
  p++;  // ' '
  memcpy(m->perms, p, 4);
  m->perms[4] = 0;
  // Skip perms, offset, dev, inode; the path (possibly empty) follows.
  for (int field = 0; field < 4 && *p && *p != '\n'; field++) {
    while (*p && *p != ' ' && *p != '\n') p++;
    while (*p == ' ') p++;
  }
  m->path = p;
  while (*p && *p != '\n') p++;
  m->pathlen = std::size_t(p - m->path);
  if (*p) p++;
  return true;
}

bool path_is(const Mapping& m, const char* s) {
  std::size_t n = strlen(s);
  return m.pathlen >= n && memcmp(m.path, s, n) == 0;
}

bool user_writable(const Mapping& m) {
  if (m.perms[0] != 'r' || m.perms[1] != 'w') return false;
  return !path_is(m, "/dev/") || path_is(m, "/dev/zero") || path_is(m, "/dev/shm/");
}

const char* read_maps(Scratch& s, char* why, std::size_t whylen) {
  const char* maps = read_proc_file(s, "/proc/self/maps");
  if (!maps) describe_errno("leak pass: cannot read /proc/self/maps", errno, why, whylen);
  return maps;
}

bool classify(const World& w, uintptr_t entry_sp, const GTable& g, const char* maps, Scratch& s, Roots* roots) {
  ScratchVec<ThreadStack> claims;
  return classify_threads(w, entry_sp, g, maps, s, roots, &claims) && classify_mappings(claims, maps, s, roots);
}

}  // namespace stray::rt
