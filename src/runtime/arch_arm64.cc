// arch_arm64.cc — arch.h for AArch64 (Linux, AAPCS64).
#include "runtime/arch.h"

#include <asm/sigcontext.h>

#include <cstring>

namespace stray::rt::arch {

Regs regs_of(const ucontext_t* uc) {
  const mcontext_t& m = uc->uc_mcontext;
  Regs r;
  memcpy(r.w, m.regs, sizeof m.regs);  // x0..x30
  r.w[31] = m.sp;
  r.w[32] = m.pc;
  r.w[33] = m.pstate;
  return r;
}

uintptr_t sp_of(const ucontext_t* uc) { return uintptr_t(uc->uc_mcontext.sp); }

uintptr_t pc_of(const ucontext_t* uc) { return uintptr_t(uc->uc_mcontext.pc); }

// The signal context's records after the general registers: a list of
// {magic, size} headers (FPSIMD, then optional SVE, ESR, ...), ended by a
// zero header.
std::size_t vector_state(const ucontext_t* uc, unsigned char* out, std::size_t max) {
  const auto* base = reinterpret_cast<const unsigned char*>(uc->uc_mcontext.__reserved);
  std::size_t avail = sizeof uc->uc_mcontext.__reserved, len = 0;
  while (len + sizeof(_aarch64_ctx) <= avail) {
    _aarch64_ctx h;
    memcpy(&h, base + len, sizeof h);
    if (h.magic == 0 || h.size < sizeof h || len + h.size > avail) break;
    len += h.size;
  }
  // (An EXTRA_MAGIC record points outside the frame, at SVE state too big
  // for it; that state is left out.)
  if (len > max) len = max;
  memcpy(out, base, len);
  return len;
}

void forget_vector_state(ucontext_t* uc) {
  memset(uc->uc_mcontext.__reserved, 0, sizeof(_aarch64_ctx));  // a zero header: no records
}

uintptr_t thread_pointer() {
  uintptr_t tp;
  asm volatile("mrs %0, tpidr_el0" : "=r"(tp));
  return tp;
}

void unwind_context(const Regs& r, ucontext_t* uc) {
  memset(uc, 0, sizeof *uc);
  mcontext_t& m = uc->uc_mcontext;
  memcpy(m.regs, r.w, sizeof m.regs);
  m.sp = r.w[31];
  m.pc = r.w[32];
  m.pstate = r.w[33];
}

void unwind_context_parked(const void* fctx, ucontext_t* uc) {
  // Boost.Context's AArch64 jump_fcontext leaves, at the saved stack
  // pointer (0xb0 bytes): d8-d15, x19-x28, x29 (fp), x30 (lr), then the
  // return address again as the pc to resume at.
  const auto* f = static_cast<const uintptr_t*>(fctx);
  memset(uc, 0, sizeof *uc);
  mcontext_t& m = uc->uc_mcontext;
  for (int i = 19; i <= 30; i++) m.regs[i] = f[8 + (i - 19)];
  m.pc = f[20];
  m.sp = reinterpret_cast<uintptr_t>(f) + 0xb0;
}

int sanitizer_shadow(Range* out, int max) {
  int n = 0;
#if defined(__SANITIZE_ADDRESS__)
  // ASan's AArch64 shadow: offset 1 << 36, an eighth of a 48-bit space.
  if (n < max) out[n++] = {uintptr_t(1) << 36, (uintptr_t(1) << 36) + (uintptr_t(1) << 45)};
#endif
#if defined(__SANITIZE_THREAD__)
#error "the TSan shadow layout of AArch64 is not described (arch_arm64.cc)"
#endif
  return n;
}

}  // namespace stray::rt::arch
