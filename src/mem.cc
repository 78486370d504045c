// mem.cc — see mem.h.
#include "mem.h"

#include <sys/mman.h>

#include <atomic>
#include <cstdlib>

#include "fatal.h"

namespace stray::rt {
namespace {

constexpr int kMaxMappings = 128;
// Stored complemented: this table lives in the program's .bss, which the
// leak detector scans as a root, and a plain start address would point at
// the first goroutine stack or channel.
std::atomic<uintptr_t> map_lo[kMaxMappings];  // ~start; 0: free
std::atomic<uintptr_t> map_hi[kMaxMappings];  // ~end

}  // namespace

void register_runtime_mapping(void* p, std::size_t bytes) {
  auto lo = ~reinterpret_cast<uintptr_t>(p);
  for (int i = 0; i < kMaxMappings; i++) {
    uintptr_t free = 0;
    if (map_lo[i].load(std::memory_order_relaxed) == 0 &&
        map_lo[i].compare_exchange_strong(free, lo, std::memory_order_acq_rel)) {
      map_hi[i].store(~(reinterpret_cast<uintptr_t>(p) + bytes), std::memory_order_release);
      return;
    }
  }
  fatal("stray: too many runtime mappings");
}

namespace {

void map_unregister(void* p) {
  auto lo = ~reinterpret_cast<uintptr_t>(p);
  for (int i = 0; i < kMaxMappings; i++) {
    if (map_lo[i].load(std::memory_order_acquire) == lo) {
      map_hi[i].store(0, std::memory_order_relaxed);
      map_lo[i].store(0, std::memory_order_release);
      return;
    }
  }
}

}  // namespace

void* sys_reserve(std::size_t bytes, const char* what) {
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) {
    write_err("fatal error: stray: cannot reserve address space for ");
    write_err(what);
    write_err("\n");
    abort();
  }
  register_runtime_mapping(p, bytes);
  return p;
}

int runtime_mappings(Range* out, int max) {
  int n = 0;
  for (int i = 0; i < kMaxMappings && n < max; i++) {
    uintptr_t lo = ~map_lo[i].load(std::memory_order_acquire);
    uintptr_t hi = ~map_hi[i].load(std::memory_order_acquire);
    if (map_lo[i].load(std::memory_order_relaxed) && hi > lo) out[n++] = {lo, hi};
  }
  return n;
}

// ---- Scratch ----

struct Scratch::Block {
  Block* next;
  std::size_t bytes;
};

Scratch::~Scratch() {
  while (Block* b = blocks_) {
    blocks_ = b->next;
    map_unregister(b);
    munmap(b, b->bytes);
  }
}

void* Scratch::alloc_bytes(std::size_t bytes, std::size_t align) {
  auto p = (reinterpret_cast<uintptr_t>(bump_) + align - 1) & ~(uintptr_t(align) - 1);
  if (!bump_ || p + bytes > reinterpret_cast<uintptr_t>(end_)) {
    std::size_t want = bytes + align + sizeof(Block);
    std::size_t size = 4 << 20;
    while (size < want) size *= 2;
    void* m = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED) {
      ok_ = false;
      return nullptr;
    }
    register_runtime_mapping(m, size);
    auto* b = static_cast<Block*>(m);
    b->next = blocks_;
    b->bytes = size;
    blocks_ = b;
    bump_ = static_cast<char*>(m) + sizeof(Block);
    end_ = static_cast<char*>(m) + size;
    p = (reinterpret_cast<uintptr_t>(bump_) + align - 1) & ~(uintptr_t(align) - 1);
  }
  bump_ = reinterpret_cast<char*>(p + bytes);
  return reinterpret_cast<void*>(p);
}

}  // namespace stray::rt
