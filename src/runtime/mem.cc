// mem.cc — see mem.h.
#include "runtime/mem.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <errno.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "runtime/fatal.h"

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

void read_small(const char* path, char* buf, std::size_t len) {
  buf[0] = 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  ssize_t got = read(fd, buf, len - 1);
  close(fd);
  buf[got > 0 ? got : 0] = 0;
}

long long proc_kb(const char* text, const char* key) {
  const char* p = strstr(text, key);
  return p ? strtoll(p + strlen(key), nullptr, 10) : -1;
}

std::size_t address_budget() {
  static const std::size_t budget = [] {
    std::size_t b = SIZE_MAX;
    rlimit rl{};
    if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
      char statm[128];
      read_small("/proc/self/statm", statm, sizeof statm);  // first field: pages mapped
      std::size_t used = std::size_t(strtoull(statm, nullptr, 10)) * std::size_t(sysconf(_SC_PAGESIZE));
      b = rl.rlim_cur > used ? std::size_t(rl.rlim_cur) - used : 0;
    }
    char mode[8];
    read_small("/proc/sys/vm/overcommit_memory", mode, sizeof mode);
    if (mode[0] == '2') {
      static char meminfo[8192];  // before any thread: no race
      read_small("/proc/meminfo", meminfo, sizeof meminfo);
      long long limit = proc_kb(meminfo, "CommitLimit:"), used = proc_kb(meminfo, "Committed_AS:");
      if (limit > 0 && used >= 0) {
        std::size_t avail = limit > used ? std::size_t(limit - used) << 10 : 0;
        if (avail < b) b = avail;
      }
    }
    return b;
  }();
  return budget;
}

void* sys_reserve(std::size_t bytes, const char* what) {
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) {
    int err = errno;
    write_err("fatal error: stray: cannot reserve ");
    write_err_u64(bytes >> 10);
    write_err(" KiB of address space for ");
    write_err(what);
    write_err(": ");
    write_err(strerror(err));
    write_err(" (RLIMIT_AS, ulimit -v, or vm.overcommit_memory=2 limit what a process may map)\n");
    _exit(2);
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

void prefault(void* p, std::size_t bytes) {
  if (!bytes) return;
  uintptr_t lo = reinterpret_cast<uintptr_t>(p) & ~uintptr_t(4095);
  uintptr_t hi = (reinterpret_cast<uintptr_t>(p) + bytes + 4095) & ~uintptr_t(4095);
  if (madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_POPULATE_WRITE) == 0) return;
  // An atomic add of 0 faults each page in for writing at once (a load
  // first would map the zero page) and keeps what the page held.
  for (uintptr_t a = lo; a < hi; a += 4096)
    __atomic_fetch_add(reinterpret_cast<char*>(std::max(a, reinterpret_cast<uintptr_t>(p))), 0, __ATOMIC_RELAXED);
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
