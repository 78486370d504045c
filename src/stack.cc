// stack.cc — the stack region and its pool (see stack.h).
#include "stack.h"

#include <sys/mman.h>

#include <cstdlib>
#include <stdexcept>

#include "fatal.h"
#include "mem.h"
#include "lock.h"

namespace stray::rt {
namespace {

// Address space only; sanitizer builds reserve less, since ThreadSanitizer
// accepts application mappings only within its fixed address ranges.
#if defined(__SANITIZE_THREAD__)
constexpr std::size_t kRegionBytes = std::size_t(64) << 30;
#else
constexpr std::size_t kRegionBytes = std::size_t(2) << 40;
#endif
constexpr std::size_t kSlots = kRegionBytes / kStackMin;
constexpr int kSizeClasses = 17;  // 16 KiB .. 1 GiB

struct Region {
  char* base = nullptr;
  uint32_t* next = nullptr;  // next[slot] = next free slot of the same class + 1
  Lock lock;
  std::size_t bump GUARDED_BY(lock) = 0;  // first never-used slot
  uint32_t free_head[kSizeClasses] GUARDED_BY(lock) = {};  // slot + 1, 0 = empty
};

Region& region() {
  static Region* r = [] {
    auto* rg = ::new (sys_reserve(sizeof(Region), "the goroutine stack region")) Region;
    rg->base = static_cast<char*>(sys_reserve(kRegionBytes, "the goroutine stack region"));
    // Huge pages would turn each 4 KiB stack page into 2 MiB.
    madvise(rg->base, kRegionBytes, MADV_NOHUGEPAGE);
    rg->next = static_cast<uint32_t*>(sys_reserve(kSlots * sizeof(uint32_t), "the goroutine stack region"));
    return rg;
  }();
  return *r;
}

int size_class(std::size_t size) { return __builtin_ctzll(size / kStackMin); }

}  // namespace

Range stack_region() {
  Region& r = region();
  return {reinterpret_cast<uintptr_t>(r.base), reinterpret_cast<uintptr_t>(r.base) + kRegionBytes};
}

std::size_t stack_round(std::size_t size) {
  if (size > kStackMax) throw std::invalid_argument("stray: stack size above 1 GiB");
  std::size_t s = kStackMin;
  while (s < size) s <<= 1;
  return s;
}

std::size_t stack_default_size() {
  static const std::size_t size = [] {
    const char* env = getenv("STRAY_STACK_SIZE");
    std::size_t want = 256 << 10;
    if (env && *env) {
      char* end = nullptr;
      unsigned long long v = strtoull(env, &end, 10);
      if (*end != 0 || v == 0 || v > kStackMax)
        fatal("stray: STRAY_STACK_SIZE must be a byte count from 1 to 1073741824");
      want = v;
    }
    return stack_round(want);
  }();
  return size;
}

Stack stack_alloc(std::size_t size) {
  Region& r = region();
  int cls = size_class(size);
  std::size_t slot;
  {
    LockGuard g(r.lock);
    if (r.free_head[cls]) {
      slot = r.free_head[cls] - 1;
      r.free_head[cls] = r.next[slot];
    } else {
      std::size_t n = size / kStackMin;
      if (r.bump + n > kSlots) fatal("stray: goroutine stack region exhausted");
      slot = r.bump;
      r.bump += n;
    }
  }
  char* lo = r.base + slot * kStackMin;
  return {lo, lo + size};
}

void stack_free(Stack s) {
  Region& r = region();
  madvise(s.lo, s.size(), MADV_DONTNEED);
  std::size_t slot = std::size_t(s.lo - r.base) / kStackMin;
  int cls = size_class(s.size());
  LockGuard g(r.lock);
  r.next[slot] = r.free_head[cls];
  r.free_head[cls] = uint32_t(slot + 1);
}

}  // namespace stray::rt
