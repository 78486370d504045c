// mem.h — the runtime's own address-space mappings (Go: sysReserve in
// mem_linux.go) and the leak detector's scratch memory.
//
// Owns the runtime-mapping table: every mapping the runtime makes for
// itself (the arena, the stack region, their side tables, the detector's
// scratch) is listed there, so the leak detector can tell runtime memory,
// which it never scans conservatively, from user memory, which it must.
//
// Invariants: a table entry is {lo, hi} of a live mapping or {0, 0}; entries
// are added and removed with single atomic stores, so the detector may read
// the table while the world is stopped without a lock.
#pragma once

#include <cstddef>
#include <cstdint>

namespace stray::rt {

// Maps `bytes` of zeroed, readable and writable memory without reserving
// swap (MAP_NORESERVE): pages cost memory only once touched. Stops the
// program, naming `what`, if the address space is not available. The
// mapping is recorded as runtime memory.
void* sys_reserve(std::size_t bytes, const char* what);

// Reads the start of a small file (a /proc entry) into buf, NUL-terminated;
// "" if it cannot be read. System calls only: usable while the world is
// stopped.
void read_small(const char* path, char* buf, std::size_t len);

// The kB value of `key` ("VmRSS:", "CommitLimit:") in a /proc text that
// read_small returned (/proc/meminfo, /proc/self/status), or -1.
long long proc_kb(const char* text, const char* key);

// The address space the runtime's large reservations (the stack region,
// the arena) are sized from, measured once at the first call: unlimited
// (SIZE_MAX) unless RLIMIT_AS is set — then what the process may still map
// — or the kernel accounts every mapping (vm.overcommit_memory=2, where
// MAP_NORESERVE is ignored) — then the commit charge still available.
std::size_t address_budget();

struct Range {
  uintptr_t lo = 0;
  uintptr_t hi = 0;  // one past the end
  bool contains(uintptr_t p) const { return p - lo < hi - lo; }
};

// Records memory holding only runtime state (no user pointers) that the
// runtime did not map itself, e.g. the data of a library only it uses.
void register_runtime_mapping(void* p, std::size_t bytes);

// Copies up to max runtime mappings into out; returns how many.
int runtime_mappings(Range* out, int max);

// Makes the pages of [p, p + bytes) resident and writable now: one system
// call (MADV_POPULATE_WRITE, Linux 5.14+), else a write to each page.
// Memory that several threads will read before one writes it: a read
// first maps the shared zero page, and the write then has to flush every
// thread's TLB (an interprocessor interrupt per page).
void prefault(void* p, std::size_t bytes);

// Detector scratch memory: a bump allocator over private mappings, usable
// while the world is stopped (mmap is a system call, never malloc). Its
// mappings are runtime memory. Not thread-safe; one per pass.
class Scratch {
 public:
  Scratch() = default;
  ~Scratch();
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;

  // Zeroed memory for n objects of T; null (and ok() false) when the kernel
  // refuses more memory.
  template <class T>
  T* alloc(std::size_t n) {
    return static_cast<T*>(alloc_bytes(n * sizeof(T), alignof(T)));
  }
  void* alloc_bytes(std::size_t bytes, std::size_t align);
  bool ok() const { return ok_; }

 private:
  struct Block;
  Block* blocks_ = nullptr;
  char* bump_ = nullptr;
  char* end_ = nullptr;
  bool ok_ = true;
};

}  // namespace stray::rt
