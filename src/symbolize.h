// symbolize.h — program counters to function, file and line (elfutils
// libdw: it reads the ELF symbol tables, including local symbols, and DWARF
// line tables of every loaded object, which dladdr cannot).
//
// Not for use while the world is stopped: it allocates and takes a lock.
#pragma once

#include <cstdint>
#include <string>

namespace stray::rt {

struct Frame {
  std::string function;  // demangled; "??" when unknown
  std::string file;      // source file; empty when there is no line table
  int line = 0;
  uintptr_t offset = 0;  // pc minus the function's start (Go's +0x..)
};

// Symbolizes pc. A return address (every frame but a signal's) is looked up
// at pc-1, inside the call instruction, so the line is the call's.
Frame symbolize(const void* pc, bool return_address = true);

// A C++ symbol's readable name (the input itself if it is not mangled).
std::string demangle(const char* name);

// Go's two-line frame format: "function\n\tfile:line +0xoff\n" (the module
// path instead of file:line when no line table is known).
std::string format_frame(const Frame& f);

// Go's creation-site lines for a goroutine created at return address pc by
// goroutine parent (0: a plain thread):
// "created by function in goroutine N\n\tfile:line +0xoff\n".
std::string format_created_by(const void* pc, unsigned long long parent);

}  // namespace stray::rt
