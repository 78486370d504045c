// mem.h — address-space reservations for the runtime's regions (Go:
// sysReserve in mem_linux.go).
#pragma once

#include <cstddef>

namespace stray::rt {

// Maps `bytes` of zeroed, readable and writable memory without reserving
// swap (MAP_NORESERVE): pages cost memory only once touched. Stops the
// program, naming `what`, if the address space is not available.
void* sys_reserve(std::size_t bytes, const char* what);

}  // namespace stray::rt
