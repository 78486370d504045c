// arena.cc — the runtime arena (see arena.h for what it owns).
//
// Why not malloc: the leak detector must never mistake runtime bookkeeping
// (a channel's wait queue, a G's links) for a user reference, and must find
// channel objects by address. Keeping runtime objects in their own region
// with a chunk table gives both for free.
#include "runtime/arena.h"

#include <sys/mman.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstdint>

#include "runtime/fatal.h"
#include "runtime/mem.h"
#include "runtime/lock.h"

namespace stray::rt {
namespace {

constexpr std::size_t kChunk = 64 << 10;
// Address space only: at most 1 TiB, and an eighth of what the process may
// still map (mem.h: address_budget) under RLIMIT_AS or strict overcommit.
// ThreadSanitizer accepts application mappings only within its fixed
// address ranges, so its builds reserve less.
#if defined(__SANITIZE_THREAD__)
constexpr std::size_t kArenaMax = std::size_t(16) << 30;
#else
constexpr std::size_t kArenaMax = std::size_t(1) << 40;
#endif
constexpr std::size_t kMaxSmall = 32 << 10;

// Size classes: 16..256 by 16, then four per doubling up to kMaxSmall.
constexpr int kClasses = 16 + 4 * 7;
constexpr std::array<uint32_t, kClasses> make_class_sizes() {
  std::array<uint32_t, kClasses> s{};
  int i = 0;
  for (uint32_t sz = 16; sz <= 256; sz += 16) s[i++] = sz;
  for (uint32_t base = 256; base < kMaxSmall; base *= 2)
    for (uint32_t q = 1; q <= 4; q++) s[i++] = base + q * base / 4;
  return s;
}
constexpr std::array<uint32_t, kClasses> kClassSize = make_class_sizes();
static_assert(kClassSize[kClasses - 1] == kMaxSmall);

int size_class(std::size_t n) {
  if (n <= 256) return n == 0 ? 0 : int((n + 15) / 16) - 1;
  int lo = 16, hi = kClasses - 1;  // binary search: first class >= n
  while (lo < hi) {
    int mid = (lo + hi) / 2;
    if (kClassSize[mid] >= n) hi = mid; else lo = mid + 1;
  }
  return lo;
}

// Chunk table entry. kind: 0 unused, kSmall + class, kLargeHead, kLargeTail.
enum : uint8_t { kUnused = 0, kLargeHead = 1, kLargeTail = 2, kFreeRun = 3, kSmall = 8 };
struct ChunkInfo {
  uint8_t kind;
  uint32_t nchunks;    // kLargeHead / kFreeRun: run length
  uint32_t next_free;  // kFreeRun: next free run's first chunk + 1 (0 = end)
};

struct FreeObj {
  FreeObj* next;
};

struct Central {
  Lock lock;
  FreeObj* free GUARDED_BY(lock) = nullptr;
  char* bump GUARDED_BY(lock) = nullptr;  // next unused object in the current chunk
  char* bump_end GUARDED_BY(lock) = nullptr;
};

struct Arena {
  char* base = nullptr;
  std::size_t bytes = 0;   // the reservation
  std::size_t chunks = 0;  // bytes / kChunk
  ChunkInfo* table = nullptr;
  Lock lock;                          // chunk allocation
  std::size_t next_chunk GUARDED_BY(lock) = 0;
  uint32_t free_runs GUARDED_BY(lock) = 0;  // first free run + 1
  Central central[kClasses];
};

Arena* the_arena;

Arena& arena() {
  // First use from any thread; a function-local static is thread-safe and
  // the Arena object itself lives in mapped memory, never destroyed.
  static Arena* a = [] {
    void* mem = sys_reserve(sizeof(Arena), "the runtime arena");
    auto* ar = ::new (mem) Arena;
    std::size_t bytes = address_budget() / 8;
    if (bytes > kArenaMax) bytes = kArenaMax;
    ar->bytes = bytes & ~(kChunk - 1);
    ar->chunks = ar->bytes / kChunk;
    ar->base = static_cast<char*>(sys_reserve(ar->bytes, "the runtime arena"));
    ar->table = static_cast<ChunkInfo*>(sys_reserve(ar->chunks * sizeof(ChunkInfo), "the runtime arena"));
    the_arena = ar;
    return ar;
  }();
  return *a;
}

[[noreturn]] void arena_full(const Arena& a) {
  write_err("fatal error: stray: the runtime arena is full (");
  write_err_u64(a.bytes >> 20);
  write_err(" MiB reserved for goroutines, channels and their buffers)\n"
            "stray: the arena is an eighth of the address space the process may map; raise RLIMIT_AS "
            "(ulimit -v)\n");
  _exit(2);
}

// Returns the first chunk index of a run of n chunks.
std::size_t alloc_chunks(Arena& a, std::size_t n) {
  LockGuard g(a.lock);
  // First fit among freed runs; split the remainder off.
  uint32_t* link = &a.free_runs;
  while (*link) {
    std::size_t i = *link - 1;
    ChunkInfo& ci = a.table[i];
    if (ci.nchunks >= n) {
      *link = ci.next_free;
      if (ci.nchunks > n) {
        ChunkInfo& rest = a.table[i + n];
        rest = {kFreeRun, uint32_t(ci.nchunks - n), a.free_runs};
        a.free_runs = uint32_t(i + n + 1);
      }
      return i;
    }
    link = &ci.next_free;
  }
  if (a.next_chunk + n > a.chunks) arena_full(a);
  std::size_t i = a.next_chunk;
  a.next_chunk += n;
  return i;
}

void free_chunks(Arena& a, std::size_t i, std::size_t n) {
  madvise(a.base + i * kChunk, n * kChunk, MADV_DONTNEED);
  LockGuard g(a.lock);
  for (std::size_t k = 1; k < n; k++) a.table[i + k].kind = kUnused;
  a.table[i] = {kFreeRun, uint32_t(n), a.free_runs};
  a.free_runs = uint32_t(i + 1);
}

// Refills a thread cache list with up to `want` objects of class cls.
FreeObj* central_take(Arena& a, int cls, int want, int* got) {
  Central& c = a.central[cls];
  std::size_t sz = kClassSize[cls];
  FreeObj* head = nullptr;
  int n = 0;
  LockGuard g(c.lock);
  while (n < want && c.free) {
    FreeObj* o = c.free;
    c.free = o->next;
    o->next = head;
    head = o;
    n++;
  }
  while (n < want) {
    if (c.bump + sz > c.bump_end) {
      std::size_t ci = alloc_chunks(a, 1);  // chunk lock nests inside class lock
      a.table[ci] = {uint8_t(kSmall + cls), 1, 0};
      c.bump = a.base + ci * kChunk;
      c.bump_end = c.bump + kChunk;
    }
    auto* o = reinterpret_cast<FreeObj*>(c.bump);
    c.bump += sz;
    o->next = head;
    head = o;
    n++;
  }
  *got = n;
  return head;
}

void central_give(Arena& a, int cls, FreeObj* head, FreeObj* tail) {
  Central& c = a.central[cls];
  LockGuard g(c.lock);
  tail->next = c.free;
  c.free = head;
}

constexpr int kCacheMax = 64;  // per class and thread; half goes back when full

struct ThreadCache {
  FreeObj* head[kClasses] = {};
  int count[kClasses] = {};

  ~ThreadCache() {
    for (int cls = 0; cls < kClasses; cls++) {
      if (!head[cls]) continue;
      FreeObj* t = head[cls];
      while (t->next) t = t->next;
      central_give(*the_arena, cls, head[cls], t);
    }
  }
};

thread_local ThreadCache tls_cache;

}  // namespace

std::size_t arena_max_alloc() { return arena().bytes / 4; }

void* arena_alloc(std::size_t size) {
  Arena& a = arena();
  if (size > kMaxSmall) {
    if (size > arena_max_alloc()) fatal("stray: runtime allocation too large");
    std::size_t n = (size + kChunk - 1) / kChunk;
    std::size_t i = alloc_chunks(a, n);
    a.table[i] = {kLargeHead, uint32_t(n), 0};
    for (std::size_t k = 1; k < n; k++) a.table[i + k] = {kLargeTail, 0, 0};
    return a.base + i * kChunk;
  }
  int cls = size_class(size);
  ThreadCache& tc = tls_cache;
  FreeObj* o = tc.head[cls];
  if (!o) {
    int got = 0;
    o = central_take(a, cls, kCacheMax / 2, &got);
    tc.count[cls] = got;
  }
  tc.head[cls] = o->next;
  tc.count[cls]--;
  o->next = nullptr;  // leave the object as zero as a fresh one in its first word
  return o;
}

Range arena_range() {
  Arena& a = arena();
  return {reinterpret_cast<uintptr_t>(a.base), reinterpret_cast<uintptr_t>(a.base) + a.bytes};
}

void* arena_find(const void* p) {
  Arena* a = the_arena;
  if (!a) return nullptr;
  std::size_t off = std::size_t(static_cast<const char*>(p) - a->base);
  if (off >= a->bytes) return nullptr;
  std::size_t i = off / kChunk;
  for (;;) {
    ChunkInfo ci = a->table[i];
    if (ci.kind == kLargeTail) {  // walk back to the run's head
      if (i == 0) return nullptr;
      i--;
      continue;
    }
    if (ci.kind == kLargeHead) return a->base + i * kChunk;
    if (ci.kind < kSmall) return nullptr;
    std::size_t sz = kClassSize[ci.kind - kSmall];
    std::size_t in = (off - i * kChunk) / sz * sz;
    if (in + sz > kChunk) return nullptr;  // the unused tail of a chunk
    return a->base + i * kChunk + in;
  }
}

void arena_free(void* p) {
  if (!p) return;
  Arena& a = *the_arena;
  std::size_t i = std::size_t(static_cast<char*>(p) - a.base) / kChunk;
  ChunkInfo ci = a.table[i];
  if (ci.kind == kLargeHead) {
    free_chunks(a, i, ci.nchunks);
    return;
  }
  int cls = ci.kind - kSmall;
  ThreadCache& tc = tls_cache;
  auto* o = static_cast<FreeObj*>(p);
  o->next = tc.head[cls];
  tc.head[cls] = o;
  if (++tc.count[cls] >= kCacheMax) {
    // Give back the older half.
    FreeObj* keep_tail = o;
    for (int k = 1; k < kCacheMax / 2; k++) keep_tail = keep_tail->next;
    FreeObj* give = keep_tail->next;
    keep_tail->next = nullptr;
    FreeObj* give_tail = give;
    while (give_tail->next) give_tail = give_tail->next;
    central_give(a, cls, give, give_tail);
    tc.count[cls] = kCacheMax / 2;
  }
}

}  // namespace stray::rt
