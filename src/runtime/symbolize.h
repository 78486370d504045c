// symbolize.h — program counters to functions, files and lines, inlined
// calls expanded (elfutils libdw: it reads the ELF symbol tables, including
// local symbols, and the DWARF line tables and inlining scopes of every
// loaded object, which dladdr cannot).
//
// Not for use while the world is stopped: it allocates and takes a lock.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace stray::rt {

struct Frame {
  std::string function;  // demangled; "??" when unknown
  std::string file;      // source file; the module path when there is no line table
  int line = 0;
  uintptr_t pc = 0;      // the address looked up (a return address minus 1)
  uintptr_t entry = 0;   // start of the machine function (0: unknown)
  uintptr_t offset = 0;  // the given pc minus entry (Go's "+0x.." in stack dumps)
  bool inlined = false;  // a call inlined into the next frame out
};

// The frames at pc, innermost first: one per inlined call, then the
// machine function. A return address (every frame but a signal's) is
// looked up at pc-1, inside the call instruction, so lines are the calls'.
// Offsets of return addresses are given for pc itself, as Go prints them.
std::vector<Frame> symbolize(uintptr_t pc, bool return_address = true);

// A C++ symbol's readable name (the input itself if it is not mangled).
std::string demangle(const char* name);

// Go's two-line frame format: "function(...)\n\tfile:line +0xoff\n".
std::string format_frame(const Frame& f);

// Go's creation-site lines for a goroutine created at return address pc by
// goroutine parent (0: a plain thread):
// "created by function in goroutine N\n\tfile:line +0xoff\n".
std::string format_created_by(uintptr_t pc, unsigned long long parent);

}  // namespace stray::rt
