// roots.cc — phase 2 of the leak pass: classify memory (see leak.h).
//
// Every readable, writable mapping of /proc/self/maps is one of:
// * runtime memory (mem.h's table: the goroutine stack region, the arena,
//   side tables, the detector's scratch) and sanitizer shadow: never
//   scanned conservatively; goroutine stacks and channels are reached
//   through mark.cc's precise rules;
// * everything else: a root, scanned whole — data and bss of every object,
//   TLS, the malloc heap, unknown mmaps — except the dead part of a thread
//   stack, below the thread's stack pointer minus the red zone (for the
//   thread running the pass: below its public entry frame; for a runtime
//   worker: its scheduler frames, which hold only runtime state).
// A stack is cut only where the mapping is surely a thread stack (the
// process's [stack], or a mapping right above a guard page, as pthread
// stacks are): an anonymous mapping merged with its neighbours could hold
// other data below the cut. Device mappings (/dev/..., except /dev/zero and
// /dev/shm) are not read: reading them may have side effects.
//
// Registers of every stopped thread are roots too, except those of a
// worker interrupted in its scheduler (runtime state only).
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "leak.h"
#include "proc.h"

namespace stray::rt {
namespace {

constexpr uintptr_t kRedZone = 128;  // x86-64 SysV: leaf functions may use it below sp

// Memory the detector never reads as roots.
int excluded_ranges(Range* out, int max) {
  int n = runtime_mappings(out, max - 2);
#if defined(__SANITIZE_ADDRESS__)
  out[n++] = {0x00007fff8000ull, 0x10007fff8000ull};  // ASan shadow (x86-64)
#endif
#if defined(__SANITIZE_THREAD__)
  out[n++] = {0x008000000000ull, 0x550000000000ull};  // TSan shadow and metadata
#endif
  // Sort by start for the subtraction in add_range.
  for (int i = 1; i < n; i++)
    for (int j = i; j > 0 && out[j].lo < out[j - 1].lo; j--) std::swap(out[j], out[j - 1]);
  return n;
}

// Reads /proc/self/maps into scratch memory (NUL-terminated).
char* read_maps(Scratch& s) {
  int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return nullptr;
  std::size_t cap = 1 << 20, len = 0;
  char* buf = s.alloc<char>(cap);
  while (buf) {
    ssize_t got = read(fd, buf + len, cap - len - 1);
    if (got < 0) {
      buf = nullptr;
      break;
    }
    if (got == 0) break;
    len += std::size_t(got);
    if (len + 1 == cap) {
      char* nb = s.alloc<char>(cap * 2);
      if (nb) memcpy(nb, buf, len);
      buf = nb;
      cap *= 2;
    }
  }
  close(fd);
  if (buf) buf[len] = 0;
  return buf;
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

struct Mapping {
  uintptr_t lo, hi;
  char perms[5];
  const char* path;  // points into the maps buffer; ends at '\n'
  std::size_t pathlen;
};

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
  if (pm.fd < 0 || !pm.entries || hi - lo < 64 * kPage) return roots->add(s, lo, hi);
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
        if (!roots->add(s, run, page)) return false;
        run = 0;
      }
    }
  }
  return !run || roots->add(s, run, hi);
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

bool classify(const World& w, uintptr_t entry_sp, const GTable& g, Scratch& s, Roots* roots) {
  Range stacks = stack_region();
  Range ex[136];
  int nex = excluded_ranges(ex, 136);

  // Cut points: where each thread's live stack begins.
  WorkerInfo wk[256];
  int nw = workers(wk, 256);
  ScratchVec<uintptr_t> cuts;
  auto* self_worker = static_cast<WorkerInfo*>(nullptr);
  for (int i = 0; i < nw; i++) {
    if (wk[i].tid == w.self) self_worker = &wk[i];
    if (!cuts.push(s, wk[i].g0_top)) return false;
  }
  if (stacks.contains(entry_sp)) {
    if (GRecord* r = g.find_stack(entry_sp)) r->live_lo = entry_sp;  // the pass's own goroutine
  } else if (!self_worker && !cuts.push(s, entry_sp)) {
    return false;
  }
  for (int t = 0; t < w.n; t++) {
    const ThreadRegs& th = w.threads[t];
    bool worker = false;
    for (int i = 0; i < nw; i++) worker |= wk[i].tid == th.tid;
    if (stacks.contains(th.sp)) {
      // Running a goroutine: its stack is live from sp; its registers are roots.
      if (GRecord* r = g.find_stack(th.sp)) {
        r->live_lo = th.sp - kRedZone < r->lo ? r->lo : th.sp - kRedZone;
        r->regs = th.gregs;
      }
    } else if (worker) {
      continue;  // in the scheduler: runtime registers, runtime frames
    } else if (!cuts.push(s, th.sp - kRedZone)) {
      return false;
    }
    if (!roots->ranges.push(s, {uintptr_t(th.gregs), uintptr_t(th.gregs + NGREG)})) return false;
    if (!roots->ranges.push(s, {uintptr_t(th.fp), uintptr_t(th.fp + th.fplen)})) return false;
    if (!roots->ranges.push(s, {uintptr_t(&th.tp), uintptr_t(&th.tp + 1)})) return false;
  }

  const char* maps = read_maps(s);
  if (!maps) return false;
  Pagemap pm{open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC), s.alloc<uint64_t>(kPagemapBatch)};
  bool ok = true;
  Mapping prev{}, m{};
  for (const char* p = maps; next_mapping(p, &m); prev = m) {
    if (m.perms[0] != 'r' || m.perms[1] != 'w') continue;
    if (path_is(m, "/dev/") && !path_is(m, "/dev/zero") && !path_is(m, "/dev/shm/")) continue;
    uintptr_t lo = m.lo;
    bool stack_like = path_is(m, "[stack]") || (prev.hi == m.lo && strcmp(prev.perms, "---p") == 0);
    if (stack_like) {
      uintptr_t cut = m.hi;
      for (std::size_t i = 0; i < cuts.n; i++)
        if (cuts.data[i] >= m.lo && cuts.data[i] < cut) cut = cuts.data[i];
      if (cut != m.hi) lo = cut & ~uintptr_t(7);
    }
    uint64_t before = roots->bytes;
    if (!(ok = add_range(roots, s, pm, lo, m.hi, ex, nex))) break;
    if (verbose() && roots->bytes > before)
      vlog("leak pass: root %#lx-%#lx %s %.*s: %llu bytes touched%s", (unsigned long)lo, (unsigned long)m.hi, m.perms,
           int(m.pathlen), m.path, (unsigned long long)(roots->bytes - before),
           lo != m.lo ? " (live part of a thread stack)" : "");
  }
  if (pm.fd >= 0) close(pm.fd);
  return ok;
}

}  // namespace stray::rt
