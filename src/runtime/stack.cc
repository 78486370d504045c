// stack.cc — the stack region, its guards and its pool (see stack.h).
#include "runtime/stack.h"

#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include "runtime/fatal.h"
#include "runtime/lock.h"
#include "runtime/mem.h"
#include "runtime/options.h"

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102  // Linux 6.13 uapi; older headers lack it
#endif

namespace stray::rt {
namespace {

// Address space only. At most 2 TiB, and a quarter of what the process may
// still map (mem.h: address_budget) under RLIMIT_AS or strict overcommit.
// Sanitizer builds reserve less, since ThreadSanitizer accepts application
// mappings only within its fixed address ranges.
#if defined(__SANITIZE_THREAD__)
constexpr std::size_t kRegionMax = std::size_t(64) << 30;
#else
constexpr std::size_t kRegionMax = std::size_t(2) << 40;
#endif
constexpr int kSizeClasses = 17;  // 16 KiB .. 1 GiB

enum class Guard : int { madvise, mprotect, capped };

struct Region {
  char* base = nullptr;
  std::size_t bytes = 0;
  std::size_t slots = 0;     // bytes / kStackMin
  uint32_t* next = nullptr;  // next[slot] = next free slot of the same class + 1
  std::size_t mprotect_cap GUARDED_BY(lock) = 0;  // guards mprotect may add (VMAs are limited); 0: not read yet
  Lock lock;
  std::size_t bump GUARDED_BY(lock) = 0;  // first never-used slot
  uint32_t free_head[kSizeClasses] GUARDED_BY(lock) = {};  // slot + 1, 0 = empty
  std::size_t mprotect_guards GUARDED_BY(lock) = 0;
  std::atomic<Guard> guard{Guard::madvise};
};

// vm.max_map_count, or Linux's default when unreadable.
std::size_t max_map_count() {
  char buf[32];
  read_small("/proc/sys/vm/max_map_count", buf, sizeof buf);
  long v = strtol(buf, nullptr, 10);
  return v > 0 ? std::size_t(v) : 65530;
}

std::atomic<Region*> mapped{nullptr};  // set once the region exists

Region& region() {
  static Region* r = [] {
    auto* rg = ::new (sys_reserve(sizeof(Region), "the goroutine stack region")) Region;
    std::size_t bytes = address_budget() / 4;
    if (bytes > kRegionMax) bytes = kRegionMax;
    bytes &= ~(kStackMin - 1);
    rg->bytes = bytes;
    rg->slots = bytes / kStackMin;
    rg->base = static_cast<char*>(sys_reserve(bytes, "the goroutine stack region"));
    // Huge pages would turn each 4 KiB stack page into 2 MiB.
    madvise(rg->base, bytes, MADV_NOHUGEPAGE);
    rg->next = static_cast<uint32_t*>(sys_reserve(rg->slots * sizeof(uint32_t), "the goroutine stack region"));
    // STRAY_STACK_GUARD=mprotect: the older kernels' mode, for tests and
    // for kernels whose MADV_GUARD_INSTALL misbehaves. Otherwise probe the
    // advice now (an unknown one fails with EINVAL even for length 0), so
    // STRAY_OPTIONS=help can say which mode runs.
    if (options().stack_guard == 1 || madvise(rg->base, 0, MADV_GUARD_INSTALL) != 0) rg->guard.store(Guard::mprotect);
    mapped.store(rg, std::memory_order_release);
    return rg;
  }();
  return *r;
}

int size_class(std::size_t size) { return __builtin_ctzll(size / kStackMin); }

[[noreturn]] void region_full(const Region& r, std::size_t size) {
  write_err("fatal error: stray: the goroutine stack region is full (");
  write_err_u64(r.bytes >> 20);
  write_err(" MiB reserved, a ");
  write_err_u64(size >> 10);
  write_err(" KiB stack wanted): too many goroutines, or stacks too large for the address space\n"
            "stray: the region is a quarter of the address space the process may map; raise RLIMIT_AS "
            "(ulimit -v) or lower STRAY_STACK_SIZE / GoOptions::stack_size\n");
  _exit(2);
}

// Makes the slot's low `bytes` fault on any access. Called once per slot,
// when it is first carved: guards survive MADV_DONTNEED and slots keep their
// size class. Returns false when the stack stays unguarded.
bool install_guard(Region& r, char* base, std::size_t bytes) {
  if (r.guard.load(std::memory_order_relaxed) == Guard::madvise) {
    if (madvise(base, bytes, MADV_GUARD_INSTALL) == 0) return true;
    r.guard.store(Guard::mprotect, std::memory_order_relaxed);  // EINVAL: kernel before 6.13
  }
  {
    LockGuard g(r.lock);
    // Each mprotect guard splits the region: up to two more VMAs. Leave at
    // least three quarters of the limit to the rest of the program. (Read
    // only once a kernel without MADV_GUARD_INSTALL makes it matter.)
    if (r.mprotect_cap == 0) r.mprotect_cap = max_map_count() / 8;
    if (r.mprotect_guards >= r.mprotect_cap) {
      if (r.guard.exchange(Guard::capped, std::memory_order_relaxed) != Guard::capped)
        write_err("stray: more goroutine stacks than guard pages allowed by vm.max_map_count: "
                  "new stacks have no guard (an overflow is caught only at the next switch)\n");
      return false;
    }
    r.mprotect_guards++;
  }
  if (mprotect(base, bytes, PROT_NONE) == 0) return true;
  static std::atomic<bool> said{false};
  if (!said.exchange(true))
    write_err("stray: mprotect of a goroutine stack guard failed: some stacks have no guard page\n");
  return false;
}

}  // namespace

const char* stack_guard_mode() {
  switch (region().guard.load(std::memory_order_relaxed)) {
    case Guard::madvise: return "madvise (MADV_GUARD_INSTALL)";
    case Guard::mprotect: return "mprotect";
    case Guard::capped: return "mprotect, cap reached: newer stacks unguarded";
  }
  return "?";
}

bool in_stack_region(uintptr_t p) {
  const Region* r = mapped.load(std::memory_order_acquire);
  return r && p - reinterpret_cast<uintptr_t>(r->base) < r->bytes;
}

Range stack_region() {
  Region& r = region();
  return {reinterpret_cast<uintptr_t>(r.base), reinterpret_cast<uintptr_t>(r.base) + r.bytes};
}

std::size_t stack_round(std::size_t size) {
  if (size > kStackMax) throw std::invalid_argument("stray: stack size above 1 GiB");
  std::size_t s = kStackMin;
  while (s < size) s <<= 1;
  return s;
}

std::size_t stack_default_size() {
  static const std::size_t size = stack_round(std::size_t(options().stack_size));
  return size;
}

Stack stack_alloc(std::size_t size) {
  Region& r = region();
  int cls = size_class(size);
  std::size_t slot;
  bool fresh = false;
  {
    LockGuard g(r.lock);
    if (r.free_head[cls]) {
      slot = r.free_head[cls] - 1;
      r.free_head[cls] = r.next[slot];
    } else {
      std::size_t n = size / kStackMin;
      if (r.bump + n > r.slots) region_full(r, size);
      slot = r.bump;
      r.bump += n;
      fresh = true;
    }
  }
  char* base = r.base + slot * kStackMin;
  std::size_t guard = stack_guard_bytes(size);
  if (fresh) install_guard(r, base, guard);
  return {base, base + guard, base + size};
}

void stack_free(Stack s) {
  Region& r = region();
  // The guard pages hold nothing; leave their markers (or protection) alone.
  madvise(s.lo, std::size_t(s.hi - s.lo), MADV_DONTNEED);
  std::size_t slot = std::size_t(s.base - r.base) / kStackMin;
  int cls = size_class(s.size());
  LockGuard g(r.lock);
  r.next[slot] = r.free_head[cls];
  r.free_head[cls] = uint32_t(slot + 1);
}

}  // namespace stray::rt
