// arch.h — what the runtime and the leak detector know about the machine
// (Go: the per-architecture files — signal_linux_amd64.go's register
// accessors, sys_linux_amd64.s's thread pointer, asm_amd64.s's frame
// layouts). One implementation per architecture: arch_amd64.cc (x86-64)
// and arch_arm64.cc (AArch64); CMake compiles the one for the target.
//
// Everything here is async-signal-safe: the stop-the-world handler, the
// fault handler and the stopped pass call it.
#pragma once

#include <ucontext.h>

#include <cstddef>
#include <cstdint>

#include "runtime/mem.h"

namespace stray::rt::arch {

// kRedZone: below its stack pointer, a leaf function may keep data there.
// kFrameToCallerSp: a function's __builtin_frame_address(0) plus this is
// at most its caller's stack pointer (x86-64: above the saved rbp and the
// return address; AArch64: the frame record sits at the frame's bottom,
// and the frame's size is unknown, so the frame address itself).
#if defined(__x86_64__)
constexpr int kRegWords = NGREG;  // the signal context's gregs: r8..r15, rdi, ..., rip, ...
constexpr uintptr_t kRedZone = 128;  // SysV
constexpr uintptr_t kFrameToCallerSp = 16;
#elif defined(__aarch64__)
constexpr int kRegWords = 34;  // x0..x30, sp, pc, pstate
constexpr uintptr_t kRedZone = 0;  // AAPCS64 has none
constexpr uintptr_t kFrameToCallerSp = 0;
#else
#error "stray knows x86-64 and AArch64 (arch_amd64.cc, arch_arm64.cc)"
#endif

// The calling function's stack pointer.
[[gnu::always_inline]] inline uintptr_t stack_pointer() {
  uintptr_t sp;
#if defined(__x86_64__)
  asm volatile("mov %%rsp, %0" : "=r"(sp));
#else
  asm volatile("mov %0, sp" : "=r"(sp));
#endif
  return sp;
}

// A spin-wait hint: lets the sibling hardware thread run (x86-64: pause;
// AArch64: yield).
inline void cpu_relax() {
#if defined(__x86_64__)
  __builtin_ia32_pause();
#else
  asm volatile("yield");
#endif
}

// A thread's general-purpose registers as a signal context saved them,
// kept as words: the detector scans them as roots and the unwinder starts
// from them.
struct Regs {
  uintptr_t w[kRegWords];
};

// The general-purpose registers, stack pointer and program counter of a
// signal context (or of one getcontext filled).
Regs regs_of(const ucontext_t* uc);
uintptr_t sp_of(const ucontext_t* uc);
uintptr_t pc_of(const ucontext_t* uc);

// Copies the vector and floating-point state a signal context saved (x86-64:
// the fxsave area and the xsave extensions; AArch64: the FPSIMD and SVE
// records) into out, at most max bytes; returns the length copied (0: none).
std::size_t vector_state(const ucontext_t* uc, unsigned char* out, std::size_t max);

// Makes a getcontext-filled context claim no vector state: getcontext saves
// none that is live at a call boundary, and the rest would be stale bytes.
void forget_vector_state(ucontext_t* uc);

// The calling thread's thread pointer (x86-64: the fs base; AArch64:
// tpidr_el0): it points into the thread's TCB, next to its static TLS.
uintptr_t thread_pointer();

// A context to unwind from (traceback.cc hands it to libunwind), made from
// saved registers ...
void unwind_context(const Regs& r, ucontext_t* uc);
// ... or from a suspended Boost.Context fcontext: the callee-saved
// registers, return address and stack pointer its jump_fcontext left at
// fctx.
void unwind_context_parked(const void* fctx, ucontext_t* uc);

// The sanitizers' shadow memory for this architecture (never a root: it
// mirrors every byte of the process). Returns how many ranges it wrote.
int sanitizer_shadow(Range* out, int max);

}  // namespace stray::rt::arch
