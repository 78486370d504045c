// mem.cc — see mem.h.
#include "mem.h"

#include <sys/mman.h>

#include <cstdlib>

#include "fatal.h"

namespace stray::rt {

void* sys_reserve(std::size_t bytes, const char* what) {
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) {
    write_err("fatal error: stray: cannot reserve address space for ");
    write_err(what);
    write_err("\n");
    abort();
  }
  return p;
}

}  // namespace stray::rt
