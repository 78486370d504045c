// roots_test — the leak pass's thread roots when a thread's stack pointer
// does not show where its live stack begins (roots.cc: "When a cut is
// sure"). Each case keeps the only reference to a channel in a frame the
// captured stack pointer does not cover, runs a pass while the thread sits
// there, then uses the channel to wake the goroutine blocked on it: a
// report of that goroutine would be a false positive, which the test
// states and the soundness oracle (STRAY_LEAK_ORACLE=1) turns into an abort.
#include <signal.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>

#include <atomic>
#include <thread>
#include <vector>

#include "leak_test.h"
#include "runtime/stack.h"
#include "test_util.h"

namespace {

using namespace stray;
using rt::WaitReason;
using stray::test::expect_no_leaks;
using stray::test::wait_until_waiting;

// A pipe a signal handler may block on (read and write are async-signal-safe).
struct Gate {
  int fd[2];
  Gate() { EXPECT_EQ(pipe(fd), 0); }
  ~Gate() { close(fd[0]), close(fd[1]); }
  void open_() { EXPECT_EQ(write(fd[1], "x", 1), 1); }
  void pass() {
    char c;
    while (read(fd[0], &c, 1) != 1) {
    }
  }
};
Gate* in_handler;  // the handler says it is running
Gate* release;     // the test lets it return
Gate* left;        // the handler says it is done with the gates

// What a handler (or the coroutine) does while the pass runs; the test's
// gates are read once, before the test can move on.
void wait_for_the_pass() {
  Gate *in = in_handler, *rel = release, *out = left;
  in->open_();
  rel->pass();
  out->open_();
}

void blocking_handler(int) { wait_for_the_pass(); }

void install_handler(int sig, int flags) {
  struct sigaction sa {};
  sa.sa_handler = blocking_handler;
  sa.sa_flags = flags;
  sigemptyset(&sa.sa_mask);
  ASSERT_EQ(sigaction(sig, &sa, nullptr), 0);
}

// Calls f with every general and vector register zeroed that the compiler
// lets an asm clobber (the callee-saved ones' old values go to this frame,
// below the caller's): neither the channel's address nor a stale pointer
// into the receiver's stack may survive in a register, which a signal frame
// saves where the pass scans it.
template <class F>
[[gnu::noinline]] void with_clean_registers(F f) {
  asm volatile(
      "xor %%eax, %%eax\n\txor %%ebx, %%ebx\n\txor %%ecx, %%ecx\n\txor %%edx, %%edx\n\t"
      "xor %%esi, %%esi\n\txor %%edi, %%edi\n\txor %%r8d, %%r8d\n\txor %%r9d, %%r9d\n\t"
      "xor %%r10d, %%r10d\n\txor %%r11d, %%r11d\n\txor %%r12d, %%r12d\n\txor %%r13d, %%r13d\n\t"
      "xor %%r14d, %%r14d\n\txor %%r15d, %%r15d\n\t"
      "pxor %%xmm0, %%xmm0\n\tpxor %%xmm1, %%xmm1\n\tpxor %%xmm2, %%xmm2\n\tpxor %%xmm3, %%xmm3\n\t"
      "pxor %%xmm4, %%xmm4\n\tpxor %%xmm5, %%xmm5\n\tpxor %%xmm6, %%xmm6\n\tpxor %%xmm7, %%xmm7\n\t"
      "pxor %%xmm8, %%xmm8\n\tpxor %%xmm9, %%xmm9\n\tpxor %%xmm10, %%xmm10\n\tpxor %%xmm11, %%xmm11\n\t"
      "pxor %%xmm12, %%xmm12\n\tpxor %%xmm13, %%xmm13\n\tpxor %%xmm14, %%xmm14\n\tpxor %%xmm15, %%xmm15" ::
          : "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "xmm0",
            "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12",
            "xmm13", "xmm14", "xmm15", "memory");
  f();
}

// Creates a channel with a receiver parked on it, keeps the only other
// reference in this frame, lets `interrupt` take the thread away from the
// frame while a pass runs, then wakes the receiver.
template <class F>
[[gnu::noinline]] void hold_channel_through(F interrupt) {
  auto ch = make_chan<int>();
  WaitGroup done;
  done.go([ch] { (void)ch.recv(); });
  wait_until_waiting(1, WaitReason::chan_receive);
  with_clean_registers(interrupt);
  ch.send(1);
  done.wait();
}

// Calls f 8 KiB deeper than the caller: well below any stack pointer the
// goroutine saved at an earlier switch.
template <class F>
[[gnu::noinline]] void deeper(F f) {
  volatile char pad[8 << 10];
  pad[0] = 0;
  f();
  (void)pad[0];
}

// Runs a pass once the handler runs, then lets it return and waits until
// it no longer uses the gates.
void pass_during_handler() {
  in_handler->pass();
  expect_no_leaks();
  release->open_();
  left->pass();
}

// The thread's alternate signal stack is a buffer inside its own stack,
// above the frame holding the channel: the stopped thread's stack pointer
// lies in the buffer.
[[gnu::noinline]] void thread_with_altstack_in_own_stack() {
  alignas(16) char buf[64 << 10];
  stack_t ss{};
  ss.ss_sp = buf;
  ss.ss_size = sizeof buf;
  ASSERT_EQ(sigaltstack(&ss, nullptr), 0);
  hold_channel_through([] { raise(SIGUSR2); });
  ss.ss_flags = SS_DISABLE;
  sigaltstack(&ss, nullptr);
}

// A coroutine of the application's own (swapcontext onto an mmap'd stack):
// the thread's stack pointer is outside its stack while the frame holding
// the channel waits below the switch.
ucontext_t main_ctx, coro_ctx;
void coroutine_body() {
  wait_for_the_pass();
  swapcontext(&coro_ctx, &main_ctx);
}

// An idle worker interrupted by a handler without SA_ONSTACK: the handler
// runs on the worker's own stack, below its scheduler's frames, and its
// frame holds the only plain copy of a channel's address (the test keeps
// only a hidden one, leak_test.h).
std::atomic<uintptr_t> hidden_chan;

void handler_holding_channel(int) {
  volatile uintptr_t plain = hidden_chan.load() ^ stray::test::kXor;
  wait_for_the_pass();
  (void)plain;
}

// Recurses until fewer than `margin` bytes of the running goroutine's stack
// are left above its canary, then calls f there.
template <class F>
[[gnu::noinline]] void near_the_stack_limit(std::size_t margin, F f) {
  volatile char pad[256];
  pad[0] = 0;
  auto sp = reinterpret_cast<uintptr_t>(__builtin_frame_address(0));
  auto floor = reinterpret_cast<uintptr_t>(rt::current_goroutine()->stack.lo) + rt::kCanaryBytes;
  if (sp - floor > margin) near_the_stack_limit(margin, f);
  else f();
  (void)pad[0];
}

}  // namespace

class Roots : public ::testing::Test {
 protected:
  void SetUp() override {
    in_handler = &in_;
    release = &release_;
    left = &left_;
  }
  Gate in_, release_, left_;
};

TEST_F(Roots, ThreadOnAnAlternateStackInsideItsOwnStack) {
  install_handler(SIGUSR2, SA_ONSTACK);
  std::thread t(thread_with_altstack_in_own_stack);
  pass_during_handler();
  t.join();
}

TEST_F(Roots, ThreadInAHandlerOnItsOrdinaryStack) {
  install_handler(SIGUSR2, 0);
  std::thread t([] { hold_channel_through([] { raise(SIGUSR2); }); });
  pass_during_handler();
  t.join();
}

TEST_F(Roots, ThreadOnACoroutineStackOfItsOwn) {
  std::thread t([] {
    hold_channel_through([] {
      constexpr std::size_t kSize = 256 << 10;
      void* stack = mmap(nullptr, kSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      ASSERT_NE(stack, MAP_FAILED);
      getcontext(&coro_ctx);
      coro_ctx.uc_stack.ss_sp = stack;
      coro_ctx.uc_stack.ss_size = kSize;
      coro_ctx.uc_link = nullptr;
      makecontext(&coro_ctx, coroutine_body, 0);
      swapcontext(&main_ctx, &coro_ctx);
      munmap(stack, kSize);
    });
  });
  pass_during_handler();
  t.join();
}

TEST_F(Roots, GoroutineInAHandlerOnItsWorkersAlternateStack) {
  // A goroutine's own frame holds the channel; a handler interrupts it on
  // the worker's alternate signal stack (stray gives every worker one), so
  // the worker's stack pointer is nowhere in the goroutine's stack.
  install_handler(SIGUSR2, SA_ONSTACK);
  WaitGroup wg;
  wg.go([] {
    stray::yield();  // a saved stack pointer near the top
    deeper([] { hold_channel_through([] { raise(SIGUSR2); }); });
  });
  pass_during_handler();
  wg.wait();
}

TEST_F(Roots, HandlerOnAWorkersSchedulerStack) {
  struct sigaction sa {};
  sa.sa_handler = handler_holding_channel;
  sigemptyset(&sa.sa_mask);
  ASSERT_EQ(sigaction(SIGUSR2, &sa, nullptr), 0);
  hidden_chan = stray::test::hidden_receiver();
  wait_until_waiting(1, WaitReason::chan_receive);
  // A worker's thread id, from a goroutine it ran; with that goroutine
  // gone the worker is back in its scheduler.
  auto tid = make_chan<pid_t>(1);
  go([tid]() mutable { tid.send(pid_t(syscall(SYS_gettid))); });
  ASSERT_EQ(syscall(SYS_tgkill, getpid(), *tid.recv(), SIGUSR2), 0);
  pass_during_handler();
  stray::test::send_through_hidden(hidden_chan);
}

TEST_F(Roots, GoroutineOnACoroutineStack) {
  // A goroutine switches its worker onto a coroutine stack of its own
  // (swapcontext) and waits there while a pass runs: the worker's stack
  // pointer is in neither its goroutine's stack nor its thread stack.
  WaitGroup wg;
  wg.go([] {
    hold_channel_through([] {
      std::vector<char> stack(256 << 10);
      getcontext(&coro_ctx);
      coro_ctx.uc_stack.ss_sp = stack.data();
      coro_ctx.uc_stack.ss_size = stack.size();
      coro_ctx.uc_link = nullptr;
      makecontext(&coro_ctx, coroutine_body, 0);
      swapcontext(&main_ctx, &coro_ctx);
    });
  });
  pass_during_handler();
  wg.wait();
}

TEST_F(Roots, GoroutineStoppedNearItsStackLimit) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "ASan's redzones make the goroutine's own frames too large for the margin";
#endif
  // The stop signal's frame (a few KiB with the vector state) goes to the
  // worker's alternate stack: a goroutine a KiB or two from its guard is
  // stopped, not killed.
  // Resolve write/read now: a lazy binding's first call needs a few KiB.
  left->open_();
  left->pass();
  // A margin below the kernel's smallest signal frame (AT_MINSIGSTKSZ,
  // 3.6 KiB with AVX-512), above what waiting on the pipe takes.
  std::size_t margin = std::min<std::size_t>(2048, getauxval(AT_MINSIGSTKSZ) / 2);
  WaitGroup wg;
  wg.go([margin] { near_the_stack_limit(margin, wait_for_the_pass); });
  in_handler->pass();
  expect_no_leaks();
  release->open_();
  left->pass();
  wg.wait();
}

TEST_F(Roots, ThreadInVfork) {
  // A thread in vfork cannot take the stop signal until its child is gone:
  // the pass waits for it or fails, naming it; either way it reports
  // nothing false.
  std::thread t([] {
    hold_channel_through([] {
      in_handler->open_();
      pid_t pid = vfork();
      if (pid == 0) {
        struct timespec ts = {0, 200 * 1000 * 1000};
        syscall(SYS_nanosleep, &ts, nullptr);
        _exit(0);
      }
      int status = 0;
      waitpid(pid, &status, 0);
      release->pass();
    });
  });
  in_handler->pass();
  try {
    expect_no_leaks();
  } catch (const pprof::PassError& e) {
    // glibc's vfork holds signals in the parent until the child is gone.
    std::string what = e.what();
    EXPECT_TRUE(what.find("did not stop within") != std::string::npos ||
                what.find("blocks the stop signal") != std::string::npos)
        << what;
  }
  release->open_();
  t.join();
}
