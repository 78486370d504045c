// fault.cc — the stack-guard fault handler (see fault.h).
//
// Owns: the SIGSEGV disposition while the runtime runs (installed once,
// chaining to the one it replaced) and the worker threads' alternate
// signal stacks.
//
// Invariants: the handler decides from the fault address alone, without
// locks or allocation, whether the fault is the runtime's; only then does
// it print (fixed lines with write(2) first, symbolized frames last, under
// an alarm) and exit. Every other fault reaches the previous handler
// exactly as the kernel delivered it.
#include "runtime/fault.h"

#include <execinfo.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "runtime/arch.h"
#include "runtime/fatal.h"
#include "runtime/mem.h"
#include "runtime/proc.h"
#include "runtime/stack.h"
#include "runtime/symbolize.h"
#include "runtime/traceback.h"

namespace stray::rt {
namespace {

// Room for the handler and the symbolizer it calls (libdw walks DWARF with
// a few KiB of frames); untouched pages cost nothing.
constexpr std::size_t kAltStackBytes = 256 << 10;

struct sigaction previous;  // SIGSEGV's disposition before ours

void write_hex(uintptr_t v) {
  char buf[2 + 16 + 1];
  char* p = buf + sizeof buf;
  *--p = 0;
  do {
    *--p = "0123456789abcdef"[v & 15];
    v >>= 4;
  } while (v);
  *--p = 'x';
  *--p = '0';
  write_err(p);
}

// Go's first line of a stack overflow report, without its newline.
void write_limit(const G* g) {
  write_err("runtime: goroutine stack exceeds ");
  write_err_u64(g->stack.usable());
  write_err("-byte limit");
}

// Passes a fault that is not ours on, as if stray had never installed a
// handler.
void forward(int sig, siginfo_t* si, void* uc) {
  if (previous.sa_flags & SA_SIGINFO) {
    if (previous.sa_sigaction) return previous.sa_sigaction(sig, si, uc);
  } else if (previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN) {
    return previous.sa_handler(sig);
  }
  // Default action: restore it; a fault re-executes the instruction and
  // dies of it with the kernel's own report; a sent signal is re-raised,
  // delivered once this handler returns.
  signal(sig, SIG_DFL);
  // A sent signal, or one the kernel forced (SI_KERNEL: it could not build
  // a signal frame), does not recur when we return: raise it again.
  if (si->si_code <= 0 || si->si_code == SI_KERNEL) raise(sig);
}

// Symbolized frames of the interrupted goroutine, then its creation site.
// Allocates: bounded by an alarm, since the fault may have struck inside
// malloc with its lock held.
void print_stack(const G* g, const ucontext_t* uc) {
  signal(SIGALRM, SIG_DFL);
  alarm(10);
  uintptr_t pcs[kMaxFrames];
  int n = backtrace(reinterpret_cast<void**>(pcs), kMaxFrames);
  // backtrace sees this handler, the signal trampoline, then the
  // interrupted frames: start at the faulting instruction.
  uintptr_t fault_pc = arch::pc_of(uc);
  int first = 0;
  while (first < n && pcs[first] != fault_pc) first++;
  if (first == n) first = 0;
  std::string text = stack_text(pcs + first, n - first, first > 0, n == kMaxFrames);
  if (g->create_pc) text += format_created_by(reinterpret_cast<uintptr_t>(g->create_pc), g->parent_id);
  write_err(text.c_str());
}

void on_fault(int sig, siginfo_t* si, void* ucv) {
  auto addr = reinterpret_cast<uintptr_t>(si->si_addr);
  const G* g = current_goroutine();
  auto* uc = static_cast<const ucontext_t*>(ucv);
  bool own_guard = g && addr >= uintptr_t(g->stack.base) && addr < uintptr_t(g->stack.lo);
  if (si->si_code <= 0 || si->si_code == SI_KERNEL || (!own_guard && !in_stack_region(addr)))
    return forward(sig, si, ucv);
  if (own_guard) {
    write_limit(g);
    write_err("\nruntime: sp=");
    write_hex(arch::sp_of(uc));
    write_err(" stack=[");
    write_hex(uintptr_t(g->stack.lo));
    write_err(", ");
    write_hex(uintptr_t(g->stack.hi));
    write_err("]\nfatal error: stack overflow\n"
              "stray: raise STRAY_STACK_SIZE or GoOptions::stack_size, and build with -fstack-clash-protection\n");
  } else {
    // Only guard pages fault in the stack region: a frame jumped past its
    // own stack, or a wild pointer, into another goroutine's guard.
    write_err("unexpected fault address ");
    write_hex(addr);
    write_err(" (a goroutine stack's guard page)\nfatal error: fault\n");
  }
  if (g) {
    write_err("\ngoroutine ");
    write_err_u64(g->id);
    write_err(" [running]:\n");
    print_stack(g, uc);
  }
  _exit(2);
}

}  // namespace

void signal_install() {
  static bool done = [] {
    void* warm[2];
    backtrace(warm, 2);  // loads libgcc_s now, not inside the handler
    struct sigaction sa {};
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &previous);
    return true;
  }();
  (void)done;
}

void signal_thread_init() {
  stack_t cur{};
  // A sanitizer's alternate stack (a few KiB) is too small for the
  // symbolizer: replace it (the sanitizer's handlers run on ours as well).
  if (sigaltstack(nullptr, &cur) == 0 && !(cur.ss_flags & SS_DISABLE) && cur.ss_size >= kAltStackBytes) return;
  void* mem = mmap(nullptr, kAltStackBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (mem == MAP_FAILED) return;  // no alternate stack: an overflow then dies of SIGSEGV unreported
  // Runtime memory: the stop signal's frames land here too, holding the
  // worker's scheduler registers; roots.cc scans the live part of a
  // handler running here instead.
  register_runtime_mapping(mem, kAltStackBytes);
  stack_t ss{};
  ss.ss_sp = mem;
  ss.ss_size = kAltStackBytes;
  sigaltstack(&ss, nullptr);
}

[[noreturn]] void stack_overflow(const G* g) {
  write_limit(g);
  write_err("\nfatal error: stack overflow\n"
            "stray: found at a switch (its canary was overwritten): raise STRAY_STACK_SIZE or "
            "GoOptions::stack_size\n\ngoroutine ");
  write_err_u64(g->id);
  write_err(" [running]:\n");
  if (g->create_pc) write_err(format_created_by(reinterpret_cast<uintptr_t>(g->create_pc), g->parent_id).c_str());
  _exit(2);
}

}  // namespace stray::rt
