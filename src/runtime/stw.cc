// stw.cc — stop the world (see stw.h for the protocol and its invariants).
#include "runtime/stw.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include "runtime/fatal.h"
#include "runtime/futex.h"
#include "runtime/mem.h"
#include "runtime/options.h"

namespace stray::rt {
namespace {

constexpr int kMaxThreads = 4096;  // slot numbers travel in 12 bits
constexpr uint32_t kSlotBits = 12;
constexpr uint32_t kRoundMask = (1u << 20) - 1;
constexpr int64_t kBlockedGraceMs = 50;

ThreadRegs* slots;                        // kMaxThreads, runtime memory
std::atomic<uint32_t> acked[kMaxThreads];  // round a slot's thread stopped in
std::atomic<uint32_t> active{0};           // round in progress; 0: none (futex word)
std::atomic<uint32_t> ackseq{0};           // bumped by each stopping thread (futex word)
uint32_t last_round = 0;                   // stopper only

thread_local int tls_nostop = 0;
thread_local uint32_t tls_stop_deferred = 0;  // a stop request's token, 0: none

pid_t gettid_raw() { return pid_t(syscall(SYS_gettid)); }

// Copies the interrupted context into slot and sleeps until the round ends.
void park(uint32_t round, uint32_t slot, const ucontext_t* uc) {
  ThreadRegs& r = slots[slot];
  r.tid = gettid_raw();
  r.regs = arch::regs_of(uc);
  r.sp = arch::sp_of(uc);
  r.pc = arch::pc_of(uc);
  r.tp = arch::thread_pointer();
  // The kernel saves the thread's sigaltstack settings in uc_stack but not
  // whether sp is on that stack (its flags are the configured ones): test
  // the range as the kernel's on_sig_stack does.
  auto ss_lo = reinterpret_cast<uintptr_t>(uc->uc_stack.ss_sp);
  r.onstack = (uc->uc_stack.ss_flags & SS_ONSTACK) ||
              (!(uc->uc_stack.ss_flags & SS_DISABLE) && r.sp > ss_lo && r.sp - ss_lo <= uc->uc_stack.ss_size);
  if (!(uc->uc_stack.ss_flags & SS_DISABLE)) {
    r.ss_lo = ss_lo;
    r.ss_hi = ss_lo + uc->uc_stack.ss_size;
  }
  r.fplen = arch::vector_state(uc, r.fp, sizeof r.fp);
  acked[slot].store(round, std::memory_order_release);
  ackseq.fetch_add(1, std::memory_order_release);
  futex_wake(&ackseq, 1);
  while (active.load(std::memory_order_acquire) == round) futex_wait(&active, round);
}

std::atomic<uintptr_t> trampoline{0};  // the return address of a signal handler (see sigreturn_trampoline)

[[gnu::noinline]] void handler(int, siginfo_t* si, void* ucv) {
  // Called by the kernel: our return address is the sigreturn trampoline
  // every handler installed the same way returns to (glibc's __restore_rt,
  // or a sanitizer's own when it installs handlers).
  trampoline.store(reinterpret_cast<uintptr_t>(__builtin_return_address(0)), std::memory_order_relaxed);
  if (si->si_code != SI_QUEUE || si->si_pid != getpid()) return;  // not a stop request
  int saved_errno = errno;
  uint32_t token = uint32_t(si->si_value.sival_int);
  if (active.load(std::memory_order_acquire) == (token >> kSlotBits)) {
    if (tls_nostop > 0) tls_stop_deferred = token;
    else park(token >> kSlotBits, token & ((1u << kSlotBits) - 1), static_cast<ucontext_t*>(ucv));
  }
  errno = saved_errno;
}

int timeout_ms() { return int(options().stop_timeout_ms); }

bool ours(const struct sigaction& sa) {
  return (sa.sa_flags & SA_SIGINFO) && sa.sa_sigaction == handler;
}

// Installs the handler once, and checks at every pass that it is still
// the signal's handler (the application may install its own later). False,
// with why, if the signal belongs to someone else.
bool install(char* why, std::size_t whylen) {
  static bool installed = false;  // the stopper is serialised
  struct sigaction old {};
  sigaction(stop_signal(), nullptr, &old);
  bool taken = !ours(old) && ((old.sa_flags & SA_SIGINFO) || (old.sa_handler != SIG_DFL && old.sa_handler != SIG_IGN));
  if (taken) {
    snprintf(why, whylen,
             installed ? "cannot stop the world: signal %d, stray's stop signal, was given another handler "
                         "after stray installed its own (set STRAY_STOP_SIGNAL to a signal the program does not use)"
                       : "cannot stop the world: signal %d already has a handler (set STRAY_STOP_SIGNAL to a signal "
                         "the program does not use)",
             stop_signal());
    return false;
  }
  if (!installed) {
    slots = static_cast<ThreadRegs*>(sys_reserve(sizeof(ThreadRegs) * kMaxThreads, "the stop-the-world slots"));
    installed = true;
  }
  if (!ours(old)) {  // first pass, or the application reset it to SIG_DFL/SIG_IGN
    struct sigaction sa {};
    sa.sa_sigaction = handler;
    // SA_ONSTACK: on a worker the frame goes to its alternate stack, not to
    // a goroutine stack that may be a few KiB from its guard (Go runs every
    // handler on its signal stack). Synchronous faults stay unblocked, so
    // one inside the handler is reported rather than fatal.
    sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
    sigfillset(&sa.sa_mask);
    for (int fault : {SIGSEGV, SIGBUS, SIGILL, SIGFPE}) sigdelset(&sa.sa_mask, fault);
    sigaction(stop_signal(), &sa, nullptr);
  }
  return true;
}

// Whether thread tid blocks the stop signal now (SigBlk) and whether it is
// runnable (State R), from /proc/self/task/N/status. Usable while the world
// is stopping: raw system calls only.
struct TaskStatus {
  bool blocks = false;
  bool runnable = false;
};
TaskStatus task_status(pid_t tid) {
  char path[64], buf[2048];
  snprintf(path, sizeof path, "/proc/self/task/%d/status", int(tid));
  read_small(path, buf, sizeof buf);
  TaskStatus st;
  if (const char* p = strstr(buf, "State:")) st.runnable = p[strspn(p + 6, " \t") + 6] == 'R';
  if (const char* p = strstr(buf, "SigBlk:")) st.blocks = (strtoull(p + 7, nullptr, 16) >> (stop_signal() - 1)) & 1;
  return st;
}

// Appends the tids of /proc/self/task not yet in slots[0..*n) (but self).
// Returns false, with why, if the list cannot be read or there are more
// than kMaxThreads: a thread the stopper does not know of would run on
// while the pass reads memory.
bool list_new_threads(pid_t self, int* n, pid_t* fresh, int* nfresh, char* why, std::size_t whylen) {
  *nfresh = 0;
  int fd = open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    describe_errno("cannot stop the world: cannot list the threads in /proc/self/task", errno, why, whylen);
    return false;
  }
  alignas(8) char buf[4096];
  for (;;) {
    long got = syscall(SYS_getdents64, fd, buf, sizeof buf);
    if (got < 0) {
      describe_errno("cannot stop the world: cannot list the threads in /proc/self/task", errno, why, whylen);
      close(fd);
      return false;
    }
    if (got == 0) break;
    for (long off = 0; off < got;) {
      auto* d = reinterpret_cast<struct dirent64*>(buf + off);
      off += d->d_reclen;
      if (d->d_name[0] < '0' || d->d_name[0] > '9') continue;
      pid_t tid = pid_t(atoi(d->d_name));
      if (tid == self) continue;
      bool known = false;
      for (int i = 0; i < *n && !known; i++) known = slots[i].tid == tid;
      if (known) continue;
      if (*n >= kMaxThreads) {
        close(fd);
        snprintf(why, whylen, "cannot stop the world: more than %d threads", kMaxThreads);
        return false;
      }
      slots[*n] = ThreadRegs{};
      slots[*n].tid = tid;
      acked[*n].store(0, std::memory_order_relaxed);
      fresh[(*nfresh)++] = tid;
      (*n)++;
    }
  }
  close(fd);
  return true;
}

bool thread_alive(pid_t tid) { return syscall(SYS_tgkill, getpid(), tid, 0) == 0; }

int64_t now_ms() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

// Why thread tid did not stop, for the error line (the world is running).
void describe_stuck(pid_t tid, bool blocked, char* why, std::size_t whylen) {
  char path[64], comm[64];
  snprintf(path, sizeof path, "/proc/self/task/%d/comm", int(tid));
  read_small(path, comm, sizeof comm);
  comm[strcspn(comm, "\n")] = 0;
  if (!comm[0]) strcpy(comm, "?");
  if (blocked)
    snprintf(why, whylen, "cannot stop the world: thread %d (%s) blocks the stop signal (%d)", int(tid), comm,
             stop_signal());
  else
    snprintf(why, whylen, "cannot stop the world: thread %d (%s) did not stop within %d ms", int(tid), comm,
             timeout_ms());
}

// Stops a thread whose stop request nostop_leave found deferred.
void deferred_stop() {
  uint32_t token = tls_stop_deferred;
  tls_stop_deferred = 0;
  if (active.load(std::memory_order_acquire) != (token >> kSlotBits)) return;
  // Zeroed first: getcontext writes only the callee-saved and argument
  // registers; the rest of uc (rax, r10, r11, the vector area) would be
  // stale stack bytes, scanned as this thread's registers. At this call
  // boundary no live value is in a caller-saved or vector register, so no
  // vector state is captured.
  ucontext_t uc;
  memset(&uc, 0, sizeof uc);
  getcontext(&uc);
  arch::forget_vector_state(&uc);
  // getcontext leaves uc_stack alone: ask the kernel where we run (its
  // answer has SS_ONSTACK set when we are on the alternate stack).
  if (sigaltstack(nullptr, &uc.uc_stack) != 0) uc.uc_stack.ss_flags = SS_ONSTACK;
  park(token >> kSlotBits, token & ((1u << kSlotBits) - 1), &uc);
}

}  // namespace

// ---- no-stop sections ----

[[gnu::noinline]] void nostop_enter() { ++tls_nostop; }

[[gnu::noinline]] void nostop_leave() {
  --tls_nostop;
  // The stop handler may run between the two lines: it then sees depth 0
  // and stops at once, or (before the decrement) leaves its token for us.
  std::atomic_signal_fence(std::memory_order_seq_cst);
  if (tls_stop_deferred != 0 && tls_nostop == 0) deferred_stop();
}

void nostop_drop_deferred() { tls_stop_deferred = 0; }

uintptr_t sigreturn_trampoline() { return trampoline.load(std::memory_order_relaxed); }

void describe_errno(const char* what, int err, char* why, std::size_t whylen) {
  // strerrordesc_np: the untranslated text from a static table (strerror
  // may allocate for a locale).
  const char* text = strerrordesc_np(err);
  snprintf(why, whylen, "%s: %s%s", what, text ? text : "unknown error",
           err == EMFILE || err == ENFILE ? " (the process is out of file descriptors)" : "");
}

int stop_signal() { return int(options().stop_signal); }

void stw_thread_init() {
  sigset_t s;
  sigemptyset(&s);
  sigaddset(&s, stop_signal());
  pthread_sigmask(SIG_UNBLOCK, &s, nullptr);
}

bool stop_the_world(World* w, Scratch& scratch, char* why, std::size_t whylen) {
  if (!install(why, whylen)) return false;
  uint32_t round = last_round = (last_round + 1) & kRoundMask;
  if (round == 0) round = last_round = 1;
  pid_t self = gettid_raw();
  pid_t pid = getpid();
  active.store(round, std::memory_order_release);
  auto* fresh = scratch.alloc<pid_t>(kMaxThreads);
  int n = 0;
  pid_t stuck = 0;
  bool stuck_blocked = false;
  bool ok = fresh != nullptr;
  if (!ok) snprintf(why, whylen, "cannot stop the world: out of memory");
  // Rounds of: list the threads, signal the new ones, wait for all. A
  // thread created meanwhile shows up in the next listing.
  for (int nfresh = 1; ok && nfresh > 0;) {
    if (!list_new_threads(self, &n, fresh, &nfresh, why, whylen)) {
      ok = false;
      break;
    }
    for (int i = n - nfresh; i < n; i++) {
      siginfo_t info{};
      info.si_signo = stop_signal();
      info.si_code = SI_QUEUE;
      info.si_pid = pid;
      info.si_uid = getuid();
      info.si_value.sival_int = int((round << kSlotBits) | uint32_t(i));
      if (syscall(SYS_rt_tgsigqueueinfo, pid, slots[i].tid, stop_signal(), &info) != 0)
        slots[i].tid = -1;  // exited
    }
    int64_t start = now_ms(), deadline = start + timeout_ms();
    for (;;) {
      uint32_t seq = ackseq.load(std::memory_order_acquire);
      int waiting = 0;
      int64_t now = now_ms(), left = deadline - now;
      // A thread asleep with the signal blocked after kBlockedGraceMs will
      // not stop before the timeout either: fail now, not after it. One
      // that is runnable may just be waiting for a CPU inside a short
      // blocked section (glibc's pthread_create starts a thread with every
      // signal blocked): it gets the whole timeout.
      bool check_mask = now - start >= kBlockedGraceMs;
      for (int i = 0; i < n && !stuck_blocked; i++) {
        if (slots[i].tid < 0 || acked[i].load(std::memory_order_acquire) == round) continue;
        if (!thread_alive(slots[i].tid)) {
          slots[i].tid = -1;
          continue;
        }
        waiting++;
        stuck = slots[i].tid;
        if (check_mask) {
          TaskStatus st = task_status(stuck);
          // A thread that stopped between the two reads sleeps in the
          // handler with the signal blocked too: look at its ack again.
          stuck_blocked = st.blocks && !st.runnable && acked[i].load(std::memory_order_acquire) != round;
        }
      }
      if (waiting == 0) break;
      if (left <= 0 || stuck_blocked) {
        if (!stuck_blocked) stuck_blocked = task_status(stuck).blocks;  // for the message
        ok = false;
        break;
      }
      futex_wait_for(&ackseq, seq, (left < 10 ? left : 10) * 1000000);
    }
  }
  // Drop the threads that exited; keep the rest in slot order.
  int m = 0;
  for (int i = 0; i < n; i++)
    if (slots[i].tid > 0) slots[m++] = slots[i];
  w->threads = slots;
  w->n = m;
  w->pid = getpid();
  w->self = self;
  w->self_tp = arch::thread_pointer();
  stack_t ss{};
  w->self_onstack = sigaltstack(nullptr, &ss) != 0 || (ss.ss_flags & SS_ONSTACK);
  if (!ok) {
    start_the_world(w);
    if (stuck) describe_stuck(stuck, stuck_blocked, why, whylen);
  }
  return ok;
}

void start_the_world(World*) {
  active.store(0, std::memory_order_release);
  futex_wake(&active, 1 << 30);
}

}  // namespace stray::rt
