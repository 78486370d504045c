// heap.cc — the allocation interposer and the index of live allocations
// (see heap.h).
//
// Owns: the definitions of malloc, free, free_sized, free_aligned_sized,
// calloc, realloc, reallocarray, memalign, posix_memalign, aligned_alloc,
// valloc, pvalloc and malloc_usable_size that the program links instead of
// its allocator's,
// and of the replaceable operator new and delete on top of them (an
// allocator library may define its own, bypassing malloc); the pointers to
// that allocator's own functions (dlsym(RTLD_NEXT): glibc, or jemalloc,
// tcmalloc, mimalloc when the program links one); the index.
//
// THE INVARIANT (soundness rests on it): at every instant a thread can be
// stopped, every index entry is a live allocation of exactly its recorded
// extent — never present before the allocator's malloc returned it, never
// after free began to release it, never overlapping another entry. An
// allocation may be missing from the index (its memory is then simply a
// root), never wrongly present. Hence:
// * an entry is written after the allocator returned the block and erased
//   before the block is handed back (free, realloc); a thread stopped in
//   between leaves the block untracked, not half-tracked;
// * an entry becomes visible with one byte store (its start byte), written
//   last; whatever else it needs (a large block's size, page hints) is
//   written before it and only trusted through it;
// * entries are written only by the thread that holds the block: the
//   allocator's own synchronisation orders a free of an address before the
//   next allocation of it, so plain (relaxed) stores suffice, with no
//   read-modify-write and no lock on the allocation path;
// * memory obtained any other way (mmap, a custom arena, blocks handed out
//   before the interposer resolved the allocator, an operator new that
//   bypasses malloc) is never in the index: it stays a root;
// * the one thing this file cannot see: a block the program allocated
//   through malloc but hands back through an allocator's own API
//   (jemalloc's sdallocx, mimalloc's mi_free) keeps its entry after it is
//   gone. Programs must not mix the two (docs/heap.md); stray's own
//   operator delete goes through free.
//
// The index. Memory is cut into 8-byte granules (every allocator here
// aligns blocks to 8 and sizes them in multiples of 8, so the recorded
// extent — the request rounded up to 8 — lies inside the block). A leaf
// covers 4 MiB of address space: one shadow byte per granule and one hint
// word per 4 KiB page. A shadow byte is
//   0x80 | k  (k in 1..126)  a block of k granules starts here
//   0xFF                     a large block starts here; its size in
//                            granules follows in the next 7 shadow bytes,
//                            7 bits each (top bit clear: never a start)
//   top bit clear            no block starts here
// A page's hint is the start of a block that covered the page's first byte
// when it was written; hints are never erased, and a hint is believed only
// if its start byte is live and its extent reaches the page. A lookup scans
// the shadow down to the page's start, then the hint: a few loads. A
// two-level directory (bits 34..46, 22..33 of the address) finds the leaf;
// directory tables and leaves are carved from NORESERVE segments registered
// as runtime memory (never a root: its hints point everywhere).
// Memory per live allocation: one byte per 8 bytes of a block (8 bytes for
// a 64-byte object) plus 1/512 for hints.
//
// Freed blocks: glibc leaves most of a freed block's bytes as they were,
// and freed memory is untracked, a root; free() zeroes a tracked block's
// first 4 KiB before handing it back (clear_freed), so stale copies there
// cannot keep a leak alive. Precision only, never soundness.
//
// Lock order: carve_lock is a leaf (held only to cut a table from a
// segment, once per 4 MiB of new heap). The allocation path takes no other
// lock; installing a table is one compare-and-swap. The detector reads the
// index with the world stopped and takes no lock.
#include "runtime/heap.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>
#include <type_traits>

#include "runtime/mem.h"

namespace stray::rt::heap {
namespace {

constexpr unsigned kAddrBits = 47;   // user space on x86-64 and AArch64 (4-level paging)
constexpr unsigned kMidShift = 34;   // a middle table covers 16 GiB
constexpr std::size_t kTopEntries = std::size_t(1) << (kAddrBits - kMidShift);
constexpr std::size_t kMidEntries = std::size_t(1) << (kMidShift - kLeafShift);
constexpr std::size_t kPageShift = 12;
constexpr std::size_t kLeafPages = std::size_t(1) << (kLeafShift - kPageShift);
constexpr std::size_t kPageGranules = std::size_t(1) << (kPageShift - 3);
constexpr uint8_t kStart = kStartByte, kLarge = kLargeByte;
constexpr std::size_t kSmallMax = kSmallBytes / 8;  // granules a start byte can hold (126)
static_assert(kLeafGranules == std::size_t(1) << (kLeafShift - 3));

struct Leaf {
  std::atomic<uint8_t> shadow[kLeafGranules];
  std::atomic<uintptr_t> hints[kLeafPages];
  uint32_t number;  // order of creation: the detector's bitmap index
};
struct Mid {
  std::atomic<Leaf*> leaves[kMidEntries];
};
struct Top {
  std::atomic<Mid*> mids[kTopEntries];
};

constexpr std::size_t round_page(std::size_t n) { return (n + 4095) & ~std::size_t(4095); }

// Index memory: segments mapped on demand (NORESERVE, registered as runtime
// memory), doubling from 64 MiB to 1 GiB; tables are carved from the
// current one under a spin lock — taken once per 4 MiB of new heap, never
// by the detector. A process that lowers RLIMIT_AS later loses only what
// the index has not mapped yet.
constexpr int kMaxSegments = 24;
constexpr std::size_t kFirstSegment = std::size_t(64) << 20, kMaxSegment = std::size_t(1) << 30;
struct Segment {
  char* base;
  std::size_t size;
};
constinit Top* top = nullptr;
constinit Segment segments[kMaxSegments]{};
constinit int nsegments = 0;
constinit std::size_t seg_used = 0;          // of the last segment
constinit std::atomic<bool> carve_lock{false};
constinit std::atomic<uint32_t> nleaves{0};
constinit std::atomic<uintptr_t> lo_bound{UINTPTR_MAX}, hi_bound{0};
constinit bool tracking = false;

// Zeroed memory for an index table; null when no more can be mapped (the
// blocks it would have indexed stay untracked).
void* carve(std::size_t bytes) {
  while (carve_lock.exchange(true, std::memory_order_acquire)) sched_yield();
  void* out = nullptr;
  if (nsegments == 0 || seg_used + bytes > segments[nsegments - 1].size) {
    std::size_t size = nsegments ? std::min(segments[nsegments - 1].size * 2, kMaxSegment) : kFirstSegment;
    void* p = nsegments < kMaxSegments ? mmap(nullptr, size, PROT_READ | PROT_WRITE,
                                              MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
                                       : MAP_FAILED;
    if (p != MAP_FAILED) {
      madvise(p, size, MADV_DONTDUMP);
      register_runtime_mapping(p, size);
      segments[nsegments++] = {static_cast<char*>(p), size};
      seg_used = 0;
    }
  }
  if (nsegments && seg_used + bytes <= segments[nsegments - 1].size) {
    out = segments[nsegments - 1].base + seg_used;
    seg_used += round_page(bytes);
  }
  carve_lock.store(false, std::memory_order_release);
  return out;
}

// Installs a zeroed table carved from the pool into slot; a thread that
// loses the race leaves its carving unused (rare: first touch of 4 MiB).
template <class T>
T* install(std::atomic<T*>& slot, std::size_t bytes) {
  T* t = slot.load(std::memory_order_acquire);
  if (t) return t;
  T* fresh = static_cast<T*>(carve(bytes));
  if (!fresh) return nullptr;
  if constexpr (std::is_same_v<T, Leaf>) fresh->number = nleaves.fetch_add(1, std::memory_order_relaxed);
  if (slot.compare_exchange_strong(t, fresh, std::memory_order_acq_rel)) return fresh;
  return t;
}

void widen_bounds(uintptr_t chunk) {
  uintptr_t lo = lo_bound.load(std::memory_order_relaxed);
  while (chunk < lo && !lo_bound.compare_exchange_weak(lo, chunk, std::memory_order_relaxed)) {
  }
  uintptr_t hi = hi_bound.load(std::memory_order_relaxed), end = chunk + (uintptr_t(1) << kLeafShift);
  while (end > hi && !hi_bound.compare_exchange_weak(hi, end, std::memory_order_relaxed)) {
  }
}

[[gnu::always_inline]] inline Leaf* leaf_of(uintptr_t a) {
  if (!top || (a >> kAddrBits)) return nullptr;
  Mid* m = top->mids[a >> kMidShift].load(std::memory_order_acquire);
  return m ? m->leaves[(a >> kLeafShift) & (kMidEntries - 1)].load(std::memory_order_acquire) : nullptr;
}

[[gnu::noinline]] Leaf* make_leaf_slow(uintptr_t a) {
  if (!top || (a >> kAddrBits)) return nullptr;
  Mid* m = install(top->mids[a >> kMidShift], sizeof(Mid));
  if (!m) return nullptr;
  Leaf* l = install(m->leaves[(a >> kLeafShift) & (kMidEntries - 1)], sizeof(Leaf));
  if (l) widen_bounds(a & ~((uintptr_t(1) << kLeafShift) - 1));
  return l;
}

inline Leaf* make_leaf(uintptr_t a) {
  Leaf* l = leaf_of(a);
  return __builtin_expect(l != nullptr, 1) ? l : make_leaf_slow(a);
}

std::size_t granule_in_leaf(uintptr_t a) { return (a >> 3) & (kLeafGranules - 1); }
std::size_t page_in_leaf(uintptr_t a) { return (a >> kPageShift) & (kLeafPages - 1); }

std::atomic<uint8_t>* shadow_at(uintptr_t a, bool create) {
  Leaf* l = create ? make_leaf(a) : leaf_of(a);
  return l ? &l->shadow[granule_in_leaf(a)] : nullptr;
}

// Records [p, p + n) (n rounded up to a granule). Runs after the
// allocator returned p.
[[gnu::noinline]] void track_slow(Leaf* l, uintptr_t a, std::size_t k) {
  uintptr_t end = a + k * 8;
  // Hints for every page whose first byte the block covers.
  for (uintptr_t page = (a | 4095) + 1; page < end; page += 4096) {
    Leaf* pl = page >> kLeafShift == a >> kLeafShift ? l : make_leaf(page);
    if (!pl) return;  // untracked: no start byte is written
    pl->hints[page_in_leaf(page)].store(a, std::memory_order_relaxed);
  }
  uint8_t start = kStart | uint8_t(k);
  if (k > kSmallMax) {
    for (int i = 1; i <= 7; i++) {
      std::atomic<uint8_t>* s = shadow_at(a + uintptr_t(i) * 8, true);
      if (!s) return;
      s->store(uint8_t((k >> (7 * (i - 1))) & 0x7F), std::memory_order_relaxed);
    }
    start = kLarge;
  }
  // Publish last. A compiler barrier suffices: the detector reads the index
  // only after stopping this thread (the signal orders everything before).
  std::atomic_signal_fence(std::memory_order_release);
  l->shadow[granule_in_leaf(a)].store(start, std::memory_order_relaxed);
}

// Records [p, p + n) (n rounded up to a granule). Runs after the
// allocator returned p. The common case — a small block within one page —
// is one store.
[[gnu::always_inline]] inline void track(void* p, std::size_t n) {
  auto a = reinterpret_cast<uintptr_t>(p);
  if (!tracking || !p || (a & 7)) return;
  std::size_t k = n ? (n + 7) >> 3 : 1;
  if (__builtin_expect(k > (uintptr_t(1) << kAddrBits) >> 3, 0)) return;
  Leaf* l = make_leaf(a);
  if (!l) return;
  if (__builtin_expect(k <= kSmallMax && ((a ^ (a + k * 8 - 1)) >> kPageShift) == 0, 1)) {
    l->shadow[granule_in_leaf(a)].store(uint8_t(kStart | k), std::memory_order_relaxed);
    return;
  }
  track_slow(l, a, k);
}

// Zeroes a block being freed, up to kClearMax bytes: the allocator leaves
// most of a freed block as it was, untracked memory is a root, and a stale
// copy of a pointer there would keep a leak alive. Larger blocks are left
// alone (glibc returns them to the kernel; clearing them all would cost in
// proportion to their size, not to what the program used). docs/heap.md
// has the measurement.
constexpr std::size_t kClearMax = 4096;
[[gnu::always_inline]] inline void clear_freed(void* p, std::size_t n) {
  // n is a multiple of 8. Up to 64 bytes: overlapping stores, no call.
  static constexpr char zero[32] = {};
  auto* c = static_cast<char*>(p);
  if (n <= 16) {
    if (n) memcpy(c, zero, 8);
    if (n == 16) memcpy(c + 8, zero, 8);
  } else if (n <= 32) {
    memcpy(c, zero, 16);
    memcpy(c + n - 16, zero, 16);
  } else if (n <= 64) {
    memcpy(c, zero, 32);
    memcpy(c + n - 32, zero, 32);
  } else {
    // Out of line: libc's vectorised memset, not an inlined `rep stos`.
    static void* (*const volatile clear)(void*, int, std::size_t) = memset;
    clear(p, 0, n < kClearMax ? n : kClearMax);
  }
}
// The block whose start byte is at a (a live start), or false.
bool block_at(uintptr_t a, Block* out) {
  const Leaf* l = leaf_of(a);
  if (!l) return false;
  uint8_t b = l->shadow[granule_in_leaf(a)].load(std::memory_order_relaxed);
  if (!(b & kStart)) return false;
  std::size_t k = b & 0x7F;
  if (b == kLarge) {
    k = 0;
    for (int i = 1; i <= 7; i++) {
      std::atomic<uint8_t>* c = shadow_at(a + uintptr_t(i) * 8, false);
      if (!c) return false;
      k |= std::size_t(c->load(std::memory_order_relaxed) & 0x7F) << (7 * (i - 1));
    }
  }
  *out = {a, a + k * 8, l->number, uint32_t(granule_in_leaf(a))};
  return true;
}

// The block starting at granule j of leaf l (a live start byte), whose
// chunk begins at `chunk`: small blocks without another directory walk.
inline bool block_in(const Leaf* l, uintptr_t chunk, std::size_t j, Block* out) {
  uint8_t b = l->shadow[j].load(std::memory_order_relaxed);
  if (b == kLarge) return block_at(chunk + j * 8, out);
  uintptr_t lo = chunk + j * 8;
  *out = {lo, lo + std::size_t(b & 0x7F) * 8, l->number, uint32_t(j)};
  return true;
}

// The nearest start at or below granule i of l, down to stop (at most i);
// -1 if none. Eight shadow bytes a load, ending at i (unaligned;
// little-endian: the highest set byte is the nearest), then a byte at a
// time for the last few above stop.
long start_below(const Leaf* l, std::size_t i, std::size_t stop) {
  const auto* sh = reinterpret_cast<const uint8_t*>(l->shadow);
  for (; i >= stop + 7; i -= 8) {
    uint64_t w;
    memcpy(&w, sh + i - 7, 8);
    w &= 0x8080808080808080ull;
    if (w) return long(i - 7) + (63 - __builtin_clzll(w)) / 8;
    if (i - 7 == stop) return -1;
  }
  for (;; i--) {
    if (sh[i] & kStart) return long(i);
    if (i == stop) return -1;
  }
}

// Erases p's entry if it has one; returns its size in bytes (0: untracked).
// Runs before the allocator gets p back.
[[gnu::noinline]] std::size_t large_size(uintptr_t a) {
  Block b;
  return block_at(a, &b) ? b.hi - b.lo : 0;
}

[[gnu::always_inline]] inline std::size_t untrack(void* p) {
  auto a = reinterpret_cast<uintptr_t>(p);
  if (a & 7) return 0;
  Leaf* l = leaf_of(a);
  if (!l) return 0;
  std::atomic<uint8_t>& s = l->shadow[granule_in_leaf(a)];
  uint8_t b = s.load(std::memory_order_relaxed);
  if (!(b & kStart)) return 0;
  std::size_t n = b == kLarge ? large_size(a) : std::size_t(b & 0x7F) * 8;
  s.store(0, std::memory_order_relaxed);
  std::atomic_signal_fence(std::memory_order_release);
  return n;
}// ---- the allocator underneath ----

struct Allocator {
  void* (*malloc)(std::size_t);
  void (*free)(void*);
  void* (*calloc)(std::size_t, std::size_t);
  void* (*realloc)(void*, std::size_t);
  void* (*memalign)(std::size_t, std::size_t);
  int (*posix_memalign)(void**, std::size_t, std::size_t);
  void* (*aligned_alloc)(std::size_t, std::size_t);
  void* (*valloc)(std::size_t);
  void* (*pvalloc)(std::size_t);
  std::size_t (*malloc_usable_size)(void*);
};
constinit Allocator real{};
constinit std::atomic<int> state{0};  // 0 unresolved, 1 resolving, 2 ready
constinit std::atomic<long> resolver{0};

// Blocks handed out while dlsym resolves the allocator (dlsym may allocate):
// a bump region in .bss, a root like all static data; never freed.
alignas(64) constinit char boot[64 << 10];
constinit std::atomic<std::size_t> boot_used{0};

[[maybe_unused]] bool in_boot(const void* p) { return p >= boot && p < boot + sizeof boot; }

[[maybe_unused]] void* boot_alloc(std::size_t n, std::size_t align) {
  if (align < 16) align = 16;
  for (;;) {
    std::size_t at = boot_used.load(std::memory_order_relaxed);
    std::size_t user = (at + 16 + align - 1) & ~(align - 1);
    if (user + n > sizeof boot) return nullptr;
    if (boot_used.compare_exchange_weak(at, user + n, std::memory_order_relaxed)) {
      memcpy(boot + user - sizeof(std::size_t), &n, sizeof n);  // its size, for realloc
      return boot + user;
    }
  }
}

[[maybe_unused]] std::size_t boot_size(const void* p) {
  std::size_t n;
  memcpy(&n, static_cast<const char*>(p) - sizeof n, sizeof n);
  return n;
}

template <class F>
void resolve(F& fn, const char* name, const char* fallback) {
  void* f = dlsym(RTLD_NEXT, name);
  if (!f) f = dlsym(RTLD_DEFAULT, fallback);  // glibc's own, if nothing is next
  fn = reinterpret_cast<F>(f);
}

void die(const char* msg) {
  ssize_t ignored = write(2, msg, strlen(msg));
  (void)ignored;
  _exit(2);
}

// STRAY_HEAP_TRACKING=0, read here rather than through options(): the
// first malloc comes before the options can be parsed (parsing allocates).
// options.inc has the row, which checks the value when the runtime starts.
bool tracking_off_in_env() {
  const char* env = getenv("STRAY_HEAP_TRACKING");
  return env && strcmp(env, "0") == 0;
}

// Maps the index's first segment unless tracking is off; no memory:
// tracking off.
void map_index() {
  if (tracking_off_in_env()) return;
  top = static_cast<Top*>(carve(sizeof(Top)));
  tracking = top != nullptr;
}

[[gnu::noinline]] void init_slow() {
  long self = syscall(SYS_gettid);
  int s = 0;
  if (state.compare_exchange_strong(s, 1, std::memory_order_acq_rel)) {
    resolver.store(self, std::memory_order_relaxed);
    resolve(real.malloc, "malloc", "__libc_malloc");
    resolve(real.free, "free", "__libc_free");
    resolve(real.calloc, "calloc", "__libc_calloc");
    resolve(real.realloc, "realloc", "__libc_realloc");
    resolve(real.memalign, "memalign", "__libc_memalign");
    resolve(real.posix_memalign, "posix_memalign", "__posix_memalign");
    resolve(real.aligned_alloc, "aligned_alloc", "__libc_memalign");
    resolve(real.valloc, "valloc", "__libc_valloc");
    resolve(real.pvalloc, "pvalloc", "__libc_pvalloc");
    resolve(real.malloc_usable_size, "malloc_usable_size", "__malloc_usable_size");
    if (!real.malloc || !real.free || !real.calloc || !real.realloc)
      die("stray: the heap interposer cannot find the allocator underneath it (dlsym(RTLD_NEXT, \"malloc\") failed)\n");
    map_index();
    state.store(2, std::memory_order_release);
    return;
  }
  while (state.load(std::memory_order_acquire) != 2) {
    if (resolver.load(std::memory_order_relaxed) == self) return;  // dlsym allocating: boot memory
    sched_yield();
  }
}

// True when the real allocator may be called; false while this thread is
// resolving it (use boot memory then).
inline bool ready() {
  if (__builtin_expect(state.load(std::memory_order_acquire) == 2, 1)) return true;
  init_slow();
  return state.load(std::memory_order_acquire) == 2;
}

// Before main: the environment may have been unreadable at the first
// malloc (the dynamic loader allocates before libc's start-up sets
// environ), so look again — blocks tracked until then keep their entries
// and frees still erase them; and a child forked while another thread
// held carve_lock must not find it held forever.
[[gnu::constructor(101)]] void before_main() {
  if (tracking_off_in_env()) tracking = false;
  pthread_atfork(nullptr, nullptr, [] { carve_lock.store(false, std::memory_order_relaxed); });
}

}  // namespace

bool active() { return tracking; }

namespace {

constexpr uintptr_t kChunkMask = (uintptr_t(1) << kLeafShift) - 1;

// find() within leaf l (p's); i: p's granule.
inline bool find_in(const Leaf* l, uintptr_t p, Block* out) {
  std::size_t i = granule_in_leaf(p);
  long j = start_below(l, i, i & ~(kPageGranules - 1));
  if (j >= 0) return block_in(l, p & ~kChunkMask, std::size_t(j), out) && p < out->hi;
  uintptr_t hint = l->hints[page_in_leaf(p)].load(std::memory_order_relaxed);
  return hint && hint < p && block_at(hint, out) && p < out->hi;
}

}  // namespace

bool find(uintptr_t p, Block* out) {
  const Leaf* l = leaf_of(p);
  return l && find_in(l, p, out);
}

int find_around(uintptr_t p, Block out[2]) {
  const Leaf* l = leaf_of(p);
  int n = l && find_in(l, p, &out[0]);
  if ((n && out[0].lo < p) || (p & 7)) return n;  // p is inside: no block ends at p
  const Leaf* prev = (p & kChunkMask) ? l : leaf_of(p - 1);
  Block& e = out[n];
  return prev && find_in(prev, p - 1, &e) && e.hi == p ? n + 1 : n;
}

bool view_leaf(uintptr_t p, LeafView* out) {
  const Leaf* l = leaf_of(p);
  if (!l) return false;
  static_assert(sizeof(std::atomic<uint8_t>) == 1);
  *out = {p >> kLeafShift, reinterpret_cast<const uint8_t*>(l->shadow), l->number};
  return true;
}

bool locate(uintptr_t a, uint32_t* leaf, uint32_t* granule) {
  const Leaf* l = leaf_of(a);
  if (!l) return false;
  *leaf = l->number;
  *granule = uint32_t(granule_in_leaf(a));
  return true;
}

int starts_in(uintptr_t p, uintptr_t limit, Block* out, int max) {
  int n = 0;
  p = (p + 7) & ~uintptr_t(7);
  while (p < limit && n < max) {
    uintptr_t chunk = p & ~kChunkMask, stop = chunk + kChunkMask + 1 < limit ? chunk + kChunkMask + 1 : limit;
    if (const Leaf* l = leaf_of(p)) {
      // Granules [i, end) of this leaf; whole shadow words once aligned
      // (a start byte has its top bit set; little-endian: lowest first).
      const auto* sh = reinterpret_cast<const uint8_t*>(l->shadow);
      std::size_t i = granule_in_leaf(p), end = i + (stop - p + 7) / 8;
      for (; i < end && (i & 7) && n < max; i++)
        if (sh[i] & kStart) n += block_in(l, chunk, i, &out[n]);
      for (; i < end && n < max; i += 8) {
        uint64_t w;
        memcpy(&w, sh + i, 8);
        for (w &= 0x8080808080808080ull; w && n < max; w &= w - 1) {
          std::size_t j = i + std::size_t(__builtin_ctzll(w)) / 8;
          if (j >= end) return n;
          n += block_in(l, chunk, j, &out[n]);
        }
      }
      if (n == max) return n;
    }
    p = stop;
  }
  return n;
}

// Every carving (mid tables too) counts as a leaf slot: an upper bound.
std::size_t leaves() { return nleaves.load(std::memory_order_relaxed); }

uintptr_t lowest() { return lo_bound.load(std::memory_order_relaxed); }
uintptr_t highest() { return hi_bound.load(std::memory_order_relaxed); }

std::size_t index_resident_bytes() {
  std::size_t resident = 0;
  unsigned char vec[4096];
  for (int i = 0; i < nsegments; i++)
    for (std::size_t off = 0; off < segments[i].size; off += sizeof vec * 4096) {
      std::size_t len = std::min(segments[i].size - off, sizeof vec * 4096);
      if (mincore(segments[i].base + off, len, vec) != 0) break;
      for (std::size_t p = 0; p < len / 4096; p++) resident += (vec[p] & 1) * 4096;
    }
  return resident;
}

}  // namespace stray::rt::heap

// ---- the interposed functions: default visibility, C linkage ----
//
// Compiled out of sanitizer builds: ASan and TSan interpose malloc
// themselves (their shadow describes every block), and the heap stays a
// root there.
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__) && !STRAY_NO_HEAP_INTERPOSER
namespace h = stray::rt::heap;

// Weak: a program that defines its own malloc or operator new keeps it
// (and a static link does not fail on a duplicate); its blocks are then
// simply untracked, roots. The dynamic linker does not tell weak from
// strong, so these still come before the allocator's in the lookup order.
#define STRAY_ALLOC_API extern "C" __attribute__((visibility("default"), weak))

// The common shape: boot memory until the allocator is resolved, then the
// allocator's block of n bytes (Fn: which of its functions), tracked.
namespace stray::rt::heap {
namespace {
template <auto Fn, class... Args>
[[gnu::always_inline]] inline void* alloc_tracked(std::size_t n, std::size_t boot_align, Args... args) {
  if (!ready()) return boot_alloc(n, boot_align);
  void* p = (real.*Fn)(args...);
  track(p, n);
  return p;
}
}  // namespace
}  // namespace stray::rt::heap

STRAY_ALLOC_API void* malloc(std::size_t n) { return h::alloc_tracked<&h::Allocator::malloc>(n, 16, n); }

STRAY_ALLOC_API void free(void* p) {
  if (!p || h::in_boot(p)) return;
  h::clear_freed(p, h::untrack(p));
  h::real.free(p);  // not boot memory: the allocator handed it out, so it is resolved
}

// C23's sized frees (glibc 2.39): a block must never go back without
// passing through untrack().
STRAY_ALLOC_API void free_sized(void* p, std::size_t) { free(p); }
STRAY_ALLOC_API void free_aligned_sized(void* p, std::size_t, std::size_t) { free(p); }

STRAY_ALLOC_API void* calloc(std::size_t m, std::size_t n) {
  if (!h::ready()) {
    std::size_t bytes;
    if (__builtin_mul_overflow(m, n, &bytes)) return nullptr;
    return h::boot_alloc(bytes, 16);  // .bss: already zero
  }
  void* p = h::real.calloc(m, n);
  h::track(p, m * n);
  return p;
}

STRAY_ALLOC_API void* realloc(void* p, std::size_t n) {
  if (!h::ready() || h::in_boot(p)) {
    void* q = h::ready() ? malloc(n) : h::boot_alloc(n, 16);
    if (q && p) memcpy(q, p, std::min(n, h::boot_size(p)));
    return q;
  }
  if (!p) return malloc(n);
  std::size_t old = h::untrack(p);
  void* q = h::real.realloc(p, n);
  if (q) h::track(q, n);
  else if (n && old) h::track(p, old);  // failed: p is still the caller's
  return q;
}

STRAY_ALLOC_API void* reallocarray(void* p, std::size_t m, std::size_t n) {
  std::size_t bytes;
  if (__builtin_mul_overflow(m, n, &bytes)) {
    errno = ENOMEM;
    return nullptr;
  }
  return realloc(p, bytes);
}

STRAY_ALLOC_API void* memalign(std::size_t align, std::size_t n) {
  return h::alloc_tracked<&h::Allocator::memalign>(n, align, align, n);
}

STRAY_ALLOC_API void* aligned_alloc(std::size_t align, std::size_t n) {
  return h::alloc_tracked<&h::Allocator::aligned_alloc>(n, align, align, n);
}

STRAY_ALLOC_API int posix_memalign(void** out, std::size_t align, std::size_t n) {
  if (!h::ready()) {
    *out = h::boot_alloc(n, align);
    return *out ? 0 : ENOMEM;
  }
  int err = h::real.posix_memalign(out, align, n);
  if (err == 0) h::track(*out, n);
  return err;
}

STRAY_ALLOC_API void* valloc(std::size_t n) { return h::alloc_tracked<&h::Allocator::valloc>(n, 4096, n); }

STRAY_ALLOC_API void* pvalloc(std::size_t n) { return h::alloc_tracked<&h::Allocator::pvalloc>(n, 4096, n); }

STRAY_ALLOC_API std::size_t malloc_usable_size(void* p) {
  if (!p) return 0;
  if (h::in_boot(p)) return h::boot_size(p);
  return h::ready() ? h::real.malloc_usable_size(p) : 0;
}

// The replaceable operator new and delete, on top of the functions above.
// libstdc++'s own call malloc already, but an allocator library may define
// them too (Debian's jemalloc does, allocating without malloc): linked
// before it, these keep `new` attributed. Semantics as [new.delete]: loop
// on the new_handler, then throw std::bad_alloc; nothrow forms return null.
namespace {

void* new_impl(std::size_t n, std::size_t align) {
  for (;;) {
    std::size_t bytes = n ? n : 1;  // a zero-size new still returns a unique pointer
    void* p = align <= __STDCPP_DEFAULT_NEW_ALIGNMENT__ ? malloc(bytes)
                                                        : aligned_alloc(align, (bytes + align - 1) & ~(align - 1));
    if (p) return p;
    std::new_handler handler = std::get_new_handler();
    if (!handler) throw std::bad_alloc();
    handler();
  }
}

void* new_nothrow(std::size_t n, std::size_t align) noexcept {
  try {
    return new_impl(n, align);
  } catch (...) {
    return nullptr;
  }
}

constexpr std::size_t kDefaultAlign = __STDCPP_DEFAULT_NEW_ALIGNMENT__;

}  // namespace

#define STRAY_NEW_API __attribute__((visibility("default"), weak))
STRAY_NEW_API void* operator new(std::size_t n) { return new_impl(n, kDefaultAlign); }
STRAY_NEW_API void* operator new[](std::size_t n) { return new_impl(n, kDefaultAlign); }
STRAY_NEW_API void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return new_nothrow(n, kDefaultAlign); }
STRAY_NEW_API void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return new_nothrow(n, kDefaultAlign); }
STRAY_NEW_API void* operator new(std::size_t n, std::align_val_t a) { return new_impl(n, std::size_t(a)); }
STRAY_NEW_API void* operator new[](std::size_t n, std::align_val_t a) { return new_impl(n, std::size_t(a)); }
STRAY_NEW_API void* operator new(std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return new_nothrow(n, std::size_t(a));
}
STRAY_NEW_API void* operator new[](std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return new_nothrow(n, std::size_t(a));
}
STRAY_NEW_API void operator delete(void* p) noexcept { free(p); }
STRAY_NEW_API void operator delete[](void* p) noexcept { free(p); }
STRAY_NEW_API void operator delete(void* p, std::size_t) noexcept { free(p); }
STRAY_NEW_API void operator delete[](void* p, std::size_t) noexcept { free(p); }
STRAY_NEW_API void operator delete(void* p, const std::nothrow_t&) noexcept { free(p); }
STRAY_NEW_API void operator delete[](void* p, const std::nothrow_t&) noexcept { free(p); }
STRAY_NEW_API void operator delete(void* p, std::align_val_t) noexcept { free(p); }
STRAY_NEW_API void operator delete[](void* p, std::align_val_t) noexcept { free(p); }
STRAY_NEW_API void operator delete(void* p, std::size_t, std::align_val_t) noexcept { free(p); }
STRAY_NEW_API void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { free(p); }
STRAY_NEW_API void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { free(p); }
STRAY_NEW_API void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { free(p); }
#endif
