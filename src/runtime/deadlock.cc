// deadlock.cc — the whole-program deadlock report (Go: checkdead).
//
// Reports Go's "all goroutines are asleep" when nothing in the process can
// run any more: every P idle or stopped, no runnable G, no pending timer,
// and every thread that is not the runtime's own blocked in stray. A thread
// in any other call (I/O, foreign code, a std::mutex) keeps it silent: it
// might still wake somebody. Checked by a P about to sleep and by a plain
// thread about to block; cheap unless a plain thread is blocked in stray
// and every P is idle. Off with STRAY_DEADLOCK=0.
//
// Owns the count of thread Gs blocked right now (thread_parking). Takes
// sched.lock (through sched_quiescent) and the G registry's lock, never
// together.
#include "runtime/deadlock.h"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "runtime/g.h"
#include "runtime/mem.h"
#include "runtime/options.h"
#include "runtime/proc.h"
#include "runtime/symbolize.h"
#include "runtime/timers.h"
#include "runtime/traceback.h"

namespace stray::rt {
namespace {

std::atomic<int32_t> nthreadg_waiting{0};  // thread Gs blocked right now

// The process's threads: field 20 of /proc/self/stat (the command name,
// field 2, may hold spaces). -1 if unreadable.
int process_threads() {
  char buf[1024];
  read_small("/proc/self/stat", buf, sizeof buf);
  const char* p = strrchr(buf, ')');
  if (!p) return -1;
  int field = 2;
  for (; *p && field < 20; p++)
    if (*p == ' ') field++;
  return atoi(p);
}

bool all_asleep() {
  if (timers_pending() || !sched_quiescent()) return false;
  // Count blocked threads by status, not by the counter: a thread already
  // readied but not yet running is runnable, and must keep us silent.
  int blocked_threads = 0;
  for_each_threadg([&](G* g) {
    if (g->status.load(std::memory_order_acquire) == Gstatus::waiting) blocked_threads++;
  });
  int runtime_threads = sched_workers() + timer_threads();
  return blocked_threads > 0 && process_threads() == runtime_threads + blocked_threads;
}

void print_blocked(const G* g, const char* what, int64_t now) {
  fprintf(stderr, "%s", what);
  if (!g->is_thread) fprintf(stderr, " %llu", (unsigned long long)g->id);
  fprintf(stderr, " [%s", wait_reason_string(g->waitreason.load(std::memory_order_relaxed)));
  int64_t minutes = (now - g->waitsince) / 60000000000;
  if (minutes >= 1) fprintf(stderr, ", %lld minutes", (long long)minutes);
  fprintf(stderr, "]:\n");
  // Every thread is blocked: a parked goroutine's stack is stable.
  if (!g->is_thread && traceback_init()) {
    uintptr_t pcs[kMaxFrames];
    int n = traceback_parked(g->ctx, pcs, kMaxFrames);
    fputs(stack_text(pcs, n, false).c_str(), stderr);
  }
  if (g->create_pc) fputs(format_created_by(reinterpret_cast<uintptr_t>(g->create_pc), g->parent_id).c_str(), stderr);
  fputs("\n", stderr);
}

[[noreturn]] void report_deadlock() {
  fputs("fatal error: all goroutines are asleep - deadlock!\n\n", stderr);
  int64_t now = nanotime_coarse();
  // Every other thread is blocked for good: holding the registry's lock
  // while printing stops nobody, and the process ends below.
  for_each_threadg([&](G* g) {
    if (g->status.load() == Gstatus::waiting) print_blocked(g, "thread", now);
  });
  // No goroutine runs, so allgs cannot change either.
  for_each_g([&](G* g) {
    if (g->status.load() == Gstatus::waiting) print_blocked(g, "goroutine", now);
  });
  fflush(nullptr);
  _exit(2);
}

}  // namespace

void checkdead() {
  if (nthreadg_waiting.load(std::memory_order_acquire) == 0 || !options().deadlock) return;
  // Confirm after a pause: a true deadlock is stable, while a snapshot
  // taken as threads come and go (a thread being created, one just readied)
  // is not. Being wrong here kills a healthy program.
  if (!all_asleep()) return;
  usleep(10000);
  if (!all_asleep()) return;
  report_deadlock();
}

void thread_parking() {
  nthreadg_waiting.fetch_add(1, std::memory_order_acq_rel);
  checkdead();
}

void thread_unparked() { nthreadg_waiting.fetch_sub(1, std::memory_order_acq_rel); }

}  // namespace stray::rt
