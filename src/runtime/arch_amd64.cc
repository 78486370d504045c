// arch_amd64.cc — arch.h for x86-64 (Linux, SysV ABI).
#include "runtime/arch.h"

#include <cstring>

static_assert(sizeof(greg_t) == sizeof(uintptr_t));

namespace stray::rt::arch {

Regs regs_of(const ucontext_t* uc) {
  Regs r;
  memcpy(r.w, uc->uc_mcontext.gregs, sizeof r.w);
  return r;
}

uintptr_t sp_of(const ucontext_t* uc) { return uintptr_t(uc->uc_mcontext.gregs[REG_RSP]); }

uintptr_t pc_of(const ucontext_t* uc) { return uintptr_t(uc->uc_mcontext.gregs[REG_RIP]); }

std::size_t vector_state(const ucontext_t* uc, unsigned char* out, std::size_t max) {
  const auto* fp = reinterpret_cast<const unsigned char*>(uc->uc_mcontext.fpregs);
  if (!fp) return 0;
  std::size_t len = 512;  // fxsave: x87, xmm0-15
  uint32_t magic = 0, extended = 0;
  // struct _fpx_sw_bytes in the fxsave area's software-reserved bytes:
  // magic1 at 464, extended_size (the whole xsave frame) at 468.
  memcpy(&magic, fp + 464, 4);
  memcpy(&extended, fp + 468, 4);
  if (magic == 0x46505853u /* FP_XSTATE_MAGIC1 */) len = extended;
  if (len > max) len = max;
  memcpy(out, fp, len);
  return len;
}

void forget_vector_state(ucontext_t* uc) { uc->uc_mcontext.fpregs = nullptr; }

uintptr_t thread_pointer() {
  uintptr_t tp;
  asm volatile("mov %%fs:0, %0" : "=r"(tp));  // the TCB's self pointer: the fs base
  return tp;
}

void unwind_context(const Regs& r, ucontext_t* uc) {
  memset(uc, 0, sizeof *uc);
  memcpy(uc->uc_mcontext.gregs, r.w, sizeof r.w);
}

void unwind_context_parked(const void* fctx, ucontext_t* uc) {
  // Boost.Context's x86-64 jump_fcontext leaves, at the saved stack pointer:
  // mxcsr/x87 control words, r12, r13, r14, r15, rbx, rbp, return address.
  const auto* f = static_cast<const uintptr_t*>(fctx);
  memset(uc, 0, sizeof *uc);
  greg_t* r = uc->uc_mcontext.gregs;
  r[REG_R12] = greg_t(f[1]);
  r[REG_R13] = greg_t(f[2]);
  r[REG_R14] = greg_t(f[3]);
  r[REG_R15] = greg_t(f[4]);
  r[REG_RBX] = greg_t(f[5]);
  r[REG_RBP] = greg_t(f[6]);
  r[REG_RIP] = greg_t(f[7]);
  r[REG_RSP] = greg_t(reinterpret_cast<uintptr_t>(f) + 0x40);
}

int sanitizer_shadow(Range* out, int max) {
  int n = 0;
#if defined(__SANITIZE_ADDRESS__)
  if (n < max) out[n++] = {0x00007fff8000ull, 0x10007fff8000ull};  // ASan: low and high shadow, the gap
#endif
#if defined(__SANITIZE_THREAD__)
  if (n < max) out[n++] = {0x008000000000ull, 0x550000000000ull};  // TSan: shadow and metadata
#endif
  return n;
}

}  // namespace stray::rt::arch
