// proc.cc — the M:N scheduler (Go: proc.go).
//
// Owns: the processors (P), their worker threads, the run queues, the
// runtime's start, and the park/ready protocol. G descriptors themselves
// (statuses, free lists, allgs, thread Gs) are g.cc's; the deadlock report
// is deadlock.cc's.
//
// Structure. procs() processors P each have a local run queue (a lock-free
// ring: only the owner pushes at the tail, anyone may take from the head), a
// `runnext` slot holding the G to run next (a G readied by the running one:
// it inherits the time slice, which makes ping-pong between two goroutines
// cheap), and a cache of finished Gs with their stacks. One global run queue
// under sched.lock takes overflow, yields and Gs made runnable from plain
// threads. Each P is run by one worker thread (its M) for the worker's whole
// life: stray has no blocking system calls to hand a P off from, so Go's
// separate M and P collapse into one object here. A worker runs the scheduler
// loop on its thread's own stack (Go's g0) and switches to a goroutine and
// back (switch.h).
//
// Parking. A goroutine parks by switching to its worker's scheduler with a
// request; the scheduler marks it waiting and only then runs the request's
// unlockf, which releases the lock of the wait queue the G sits on. So a
// readier that finds the G on a queue always finds it parked with its
// registers saved. (Rejected: releasing the lock before the switch and
// closing the window with a "parking" flag: every waker would have to spin
// on it. Also rejected: handing the P straight from a parking G to the G it
// just readied, skipping the scheduler loop: one context switch fewer, yet
// the unbuffered ping-pong benchmark measured the same 170 ns per round trip
// either way, so the simpler path stays.)
//
// Idle workers and wake-ups (Go's spinning protocol). A worker without work
// first "spins": it polls the other Ps' queues to steal half of one. At most
// half of the busy Ps may have a spinning worker. A worker that finds nothing
// puts its P on the idle list, stops spinning, re-checks every queue once
// more (closing the race with a concurrent enqueue that saw no idle P), and
// sleeps on its note. Whoever makes work runnable calls wakep(), which wakes
// one idle P only if nobody is spinning: the spinner will find the work, and
// the last spinner to find work wakes another. So a program whose goroutines
// are all blocked has every worker asleep in the kernel: no CPU use.
//
// fork(). A child of fork() has only the forking thread. If runtime threads
// existed (the workers, or the timer thread, which after()/Timer start
// without the scheduler), the child's copy of the runtime is stranded: its
// run queues name goroutines no thread will run, its locks may be held by
// threads that are gone, and nothing will ever fire a timer or ready a
// waiter. Go does not support it either (syscall.ForkExec execs at once).
// So the pthread_atfork child handler raises in_forked_child (lock.h), and
// every call that would wait for or hand work to a runtime thread ends the
// child with Go's "fatal error:" instead of hanging (die_if_forked_child):
// gopark (every blocking call, on a thread or a goroutine), goready and
// goready_list (waking a goroutine or thread that no longer exists),
// go() (spawn_prepare), set_procs, and, for a goroutine that called fork(),
// every way back into its worker's scheduler (yield, return); Lock's and
// Note's sleeping paths catch anything else; leak.cc refuses a pass. Calls
// that complete at once without waking anybody keep working. The runtime
// never starts half-way into a fork (start_lock is held across it), and a
// child with only the timer thread's state refuses to start a scheduler.
// fork+exec costs an uncontended lock in the parent and one flag store in
// the child (posix_spawn, system and popen use vfork-style clones and run
// no handler at all). A child of a fork taken before any runtime thread
// existed keeps the flag down and starts its own runtime on first use.
// (Rejected: giving the child an empty runtime. Its memory still holds the
// parent's goroutines, channels and held locks, and user objects point into
// them; there is nothing sound to reset to.)
//
// Invariants:
// * A G is on at most one run queue (or runnext), and only while runnable.
// * sched.npidle counts the Ps on the idle list; a P on it has a worker that
//   is asleep on its note or about to be.
// * A spinning P is counted in sched.nmspinning.
// Locks: sched.lock, start_lock; their order with the rest is lock.h's
// list.
#include "runtime/proc.h"

#include <pthread.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <thread>

#include "runtime/arena.h"
#include "runtime/deadlock.h"
#include "runtime/fatal.h"
#include "runtime/fault.h"
#include "runtime/lock.h"
#include "runtime/options.h"
#include "runtime/panic.h"
#include "runtime/stw.h"
#include "runtime/timers.h"
#include "stray/go.h"

namespace stray::rt {
namespace {

constexpr int kMaxProcs = 256;
constexpr uint32_t kRunqSize = 256;
constexpr uint32_t kRunnextStreak = 64;  // then the ring gets a turn (fairness)

// What a goroutine asks its scheduler for when it switches away.
enum class Action : uint8_t { park, yield, exit };
struct SwitchReq {
  Action action;
  bool (*unlockf)(G*, void*);
  void* arg;
};

struct P {
  int id = 0;
  Context g0;          // the worker's scheduler context
  G* curg = nullptr;   // the goroutine this P is running
  std::atomic<uint32_t> runqhead{0};
  std::atomic<uint32_t> runqtail{0};
  std::atomic<G*> runq[kRunqSize] = {};
  std::atomic<G*> runnext{nullptr};
  uint32_t runnext_streak = 0;
  uint32_t schedtick = 0;
  bool spinning = false;
  std::atomic<bool> running{false};  // executing a goroutine (for runnext stealing)
  int tid = 0;                       // the worker thread
  uintptr_t g0_top = 0;              // worker_main's frame (proc.h WorkerInfo)
  P* link = nullptr;                 // idle list
  bool idle = false;                 // on the idle list (guarded by sched.lock)
  bool stopped = false;              // parked beyond procs() (guarded by sched.lock)
  Note note;                         // the worker sleeps here when idle
  GCache gfree;                      // finished Gs with default-size stacks
};

struct Sched {
  Lock lock;
  G* runq_head GUARDED_BY(lock) = nullptr;
  G* runq_tail GUARDED_BY(lock) = nullptr;
  std::atomic<int32_t> runqsize{0};  // written under lock, read racily as a hint
  P* pidle GUARDED_BY(lock) = nullptr;
  std::atomic<int32_t> npidle{0};
  std::atomic<int32_t> nmspinning{0};
  std::atomic<int32_t> gomaxprocs{0};
  std::atomic<int32_t> nallp{0};  // Ps created so far (never shrinks)
  std::atomic<P*> allp[kMaxProcs] = {};
};

Sched* sched_ptr;

thread_local P* tls_p = nullptr;  // the worker's P; null on plain threads
thread_local uint64_t tls_rand = 0;

// Thread-local reads in functions that may resume on another thread go
// through these out-of-line accessors (see lock.h on cached TLS addresses).
[[gnu::noinline]] P* getp() { return tls_p; }

void worker_main(P* p);
void schedule(P* p);

// STRAY_PROCS, or the CPUs available (options.inc: 0 = default).
int initial_procs() {
  if (int64_t n = options().procs) return int(n);
  unsigned hw = std::thread::hardware_concurrency();
  return int(std::clamp(hw, 1u, unsigned(kMaxProcs)));
}

// Creates Ps and workers up to n (only grows). Called with no lock held.
void start_procs(Sched& s, int n) {
  static Lock grow;
  LockGuard g(grow);
  for (int i = s.nallp.load(); i < n; i++) {
    P* p = arena_new<P>();
    p->id = i;
    s.allp[i].store(p, std::memory_order_release);
    s.nallp.store(i + 1, std::memory_order_release);
    std::thread(worker_main, p).detach();
  }
}

// The runtime (and the timer thread, time.cc) starts on first use, under
// start_lock; start_lock is also held across every fork() (atfork_prepare),
// so a child never inherits a half-started runtime. (A function-local
// static would leave the child waiting forever on its initialisation guard
// if the fork landed inside.)
Lock start_lock;
std::atomic<Sched*> sched_ready{nullptr};

[[gnu::noinline]] Sched& start_runtime() {
  // A child forked with only the timer thread running: its timers are
  // stranded, and workers started here could not help them.
  die_if_forked_child();
  LockGuard g(start_lock);
  if (Sched* s = sched_ready.load(std::memory_order_relaxed)) return *s;
  auto* sc = arena_new<Sched>();
  sched_ptr = sc;
  install_panic_handler();
  signal_install();
  int n = initial_procs();
  sc->gomaxprocs.store(n);
  if (options().help) {
    Effective facts[] = {{"processors", std::to_string(n)},
                         {"stack guards", stack_guard_mode()},
                         {"address space for runtime reservations",
                          address_budget() == SIZE_MAX ? "unlimited" : std::to_string(address_budget() >> 20) + " MiB"}};
    options_print_help(facts, 3);
  }
  start_procs(*sc, n);
  sched_ready.store(sc, std::memory_order_release);
  return *sc;
}

Sched& sched() {
  if (Sched* s = sched_ready.load(std::memory_order_acquire)) [[likely]] return *s;
  return start_runtime();
}

// pthread_atfork's handlers (see "fork()" above), registered at load time,
// not when the scheduler starts: the timer thread can start first. The
// child handler runs in the child's only thread and only flips a flag, so
// fork+exec pays one uncontended lock in the parent and nothing more.
void atfork_prepare() NO_THREAD_SAFETY_ANALYSIS { start_lock.lock(); }
void atfork_parent() NO_THREAD_SAFETY_ANALYSIS { start_lock.unlock(); }
void atfork_child() NO_THREAD_SAFETY_ANALYSIS {
  if (sched_ptr != nullptr || timer_threads() > 0) in_forked_child.store(true, std::memory_order_relaxed);
  // A stop request deferred while the parent's thread held start_lock
  // belongs to the parent's pass; here it would wait for that pass forever.
  nostop_drop_deferred();
  start_lock.unlock();
}
[[maybe_unused]] const int atfork_registered = pthread_atfork(atfork_prepare, atfork_parent, atfork_child);

// ---- run queues ----

void globrunqput_locked(Sched& s, G* g) REQUIRES(s.lock) {
  g->schedlink = nullptr;
  if (s.runq_tail) s.runq_tail->schedlink = g; else s.runq_head = g;
  s.runq_tail = g;
  s.runqsize.store(s.runqsize.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

// Puts a linked batch [head..tail] of n Gs on the global queue.
void globrunqputbatch(Sched& s, G* head, G* tail, int32_t n) {
  LockGuard lg(s.lock);
  tail->schedlink = nullptr;
  if (s.runq_tail) s.runq_tail->schedlink = head; else s.runq_head = head;
  s.runq_tail = tail;
  s.runqsize.store(s.runqsize.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

G* globrunqpop_locked(Sched& s) REQUIRES(s.lock) {
  G* g = s.runq_head;
  if (!g) return nullptr;
  s.runq_head = g->schedlink;
  if (!s.runq_head) s.runq_tail = nullptr;
  s.runqsize.store(s.runqsize.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
  return g;
}

bool runqput_ring(P* p, G* g);

// Takes a fair share of the global queue: returns one G and moves up to
// max-1 more into p's local ring.
G* globrunqget_locked(Sched& s, P* p, int32_t max) REQUIRES(s.lock) {
  int32_t size = s.runqsize.load(std::memory_order_relaxed);
  if (size == 0) return nullptr;
  int32_t n = std::min(size, size / s.gomaxprocs.load(std::memory_order_relaxed) + 1);
  n = std::min({n, max, int32_t(kRunqSize / 2)});
  G* g = globrunqpop_locked(s);
  for (int32_t i = 1; i < n; i++) runqput_ring(p, globrunqpop_locked(s));
  return g;
}

bool runq_empty(P* p) {
  // Read tail, head, runnext, and tail again: a concurrent runqput that moved
  // runnext into the ring would otherwise make all three look empty.
  for (;;) {
    uint32_t h = p->runqhead.load(std::memory_order_acquire);
    uint32_t t = p->runqtail.load(std::memory_order_acquire);
    G* next = p->runnext.load(std::memory_order_acquire);
    if (t == p->runqtail.load(std::memory_order_acquire)) return h == t && next == nullptr;
  }
}

// Moves half of p's ring plus g to the global queue (the ring is full).
bool runqputslow(P* p, G* g, uint32_t h, uint32_t t) {
  Sched& s = *sched_ptr;
  G* batch[kRunqSize / 2 + 1];
  uint32_t n = (t - h) / 2;
  for (uint32_t i = 0; i < n; i++) batch[i] = p->runq[(h + i) % kRunqSize].load(std::memory_order_relaxed);
  if (!p->runqhead.compare_exchange_strong(h, h + n, std::memory_order_release)) return false;
  batch[n] = g;
  for (uint32_t i = 0; i < n; i++) batch[i]->schedlink = batch[i + 1];
  globrunqputbatch(s, batch[0], batch[n], int32_t(n + 1));
  return true;
}

// Puts g at the tail of p's ring, spilling to the global queue when full.
// Only p's owner calls it.
bool runqput_ring(P* p, G* g) {
  for (;;) {
    uint32_t h = p->runqhead.load(std::memory_order_acquire);
    uint32_t t = p->runqtail.load(std::memory_order_relaxed);
    if (t - h < kRunqSize) {
      p->runq[t % kRunqSize].store(g, std::memory_order_relaxed);
      p->runqtail.store(t + 1, std::memory_order_release);
      return true;
    }
    if (runqputslow(p, g, h, t)) return true;
  }
}

// next=true: g becomes p's runnext, and the G it displaces goes to the ring.
void runqput(P* p, G* g, bool next) {
  if (next) {
    G* old = p->runnext.exchange(g, std::memory_order_acq_rel);
    if (!old) return;
    g = old;
  }
  runqput_ring(p, g);
}

G* runqget(P* p) {
  G* next = p->runnext.load(std::memory_order_acquire);
  bool ring_empty = p->runqhead.load(std::memory_order_acquire) ==
                    p->runqtail.load(std::memory_order_relaxed);
  if (next && (p->runnext_streak < kRunnextStreak || ring_empty) &&
      p->runnext.compare_exchange_strong(next, nullptr, std::memory_order_acq_rel)) {
    p->runnext_streak++;
    return next;
  }
  p->runnext_streak = 0;
  for (;;) {
    uint32_t h = p->runqhead.load(std::memory_order_acquire);
    uint32_t t = p->runqtail.load(std::memory_order_relaxed);
    if (t == h) {
      next = p->runnext.load(std::memory_order_acquire);
      if (next && p->runnext.compare_exchange_strong(next, nullptr, std::memory_order_acq_rel)) return next;
      return nullptr;
    }
    G* g = p->runq[h % kRunqSize].load(std::memory_order_relaxed);
    if (p->runqhead.compare_exchange_weak(h, h + 1, std::memory_order_release)) return g;
  }
}

// Grabs about half of victim's runnable Gs into p's ring starting at p's
// tail (not yet published). Returns how many.
uint32_t runqgrab(P* victim, P* p, bool steal_runnext) {
  uint32_t base = p->runqtail.load(std::memory_order_relaxed);
  for (;;) {
    uint32_t h = victim->runqhead.load(std::memory_order_acquire);
    uint32_t t = victim->runqtail.load(std::memory_order_acquire);
    uint32_t n = t - h;
    n = n - n / 2;
    if (n == 0) {
      if (!steal_runnext) return 0;
      G* next = victim->runnext.load(std::memory_order_acquire);
      if (!next) return 0;
      // The victim is likely about to run its runnext G itself (it was just
      // readied by the running one); give it a moment, as Go does.
      if (victim->running.load(std::memory_order_relaxed)) usleep(3);
      if (!victim->runnext.compare_exchange_strong(next, nullptr, std::memory_order_acq_rel)) return 0;
      p->runq[base % kRunqSize].store(next, std::memory_order_relaxed);
      return 1;
    }
    if (n > kRunqSize / 2) continue;  // inconsistent h and t: retry
    for (uint32_t i = 0; i < n; i++) {
      G* g = victim->runq[(h + i) % kRunqSize].load(std::memory_order_relaxed);
      p->runq[(base + i) % kRunqSize].store(g, std::memory_order_relaxed);
    }
    if (victim->runqhead.compare_exchange_strong(h, h + n, std::memory_order_release)) return n;
  }
}

G* runqsteal(P* p, P* victim, bool steal_runnext) {
  uint32_t t = p->runqtail.load(std::memory_order_relaxed);
  uint32_t n = runqgrab(victim, p, steal_runnext);
  if (n == 0) return nullptr;
  n--;
  G* g = p->runq[(t + n) % kRunqSize].load(std::memory_order_relaxed);
  if (n > 0) p->runqtail.store(t + n, std::memory_order_release);
  return g;
}

// ---- idle Ps and wake-ups ----

void pidleput_locked(Sched& s, P* p) REQUIRES(s.lock) {
  p->idle = true;
  p->link = s.pidle;
  s.pidle = p;
  s.npidle.fetch_add(1, std::memory_order_acq_rel);
}

P* pidleget_locked(Sched& s) REQUIRES(s.lock) {
  P* p = s.pidle;
  if (p) {
    s.pidle = p->link;
    p->idle = false;
    s.npidle.fetch_sub(1, std::memory_order_acq_rel);
  }
  return p;
}

bool pidleremove_locked(Sched& s, P* p) REQUIRES(s.lock) {
  if (!p->idle) return false;
  for (P** l = &s.pidle; *l; l = &(*l)->link) {
    if (*l == p) {
      *l = p->link;
      p->idle = false;
      s.npidle.fetch_sub(1, std::memory_order_acq_rel);
      return true;
    }
  }
  return false;
}

// Wakes an idle P to look for work, unless one is already spinning.
void wakep() {
  Sched& s = *sched_ptr;
  if (s.npidle.load(std::memory_order_acquire) == 0) return;
  int32_t zero = 0;
  if (!s.nmspinning.compare_exchange_strong(zero, 1, std::memory_order_acq_rel)) return;
  P* p;
  {
    LockGuard g(s.lock);
    p = pidleget_locked(s);
    // Handed to the woken worker, which reads it after seeing itself off
    // the idle list under this lock.
    if (p) p->spinning = true;
  }
  if (!p) {
    s.nmspinning.fetch_sub(1, std::memory_order_acq_rel);
    return;
  }
  p->note.wakeup();
}

// A spinning P found work: stop spinning, and if it was the last spinner,
// wake another P so remaining work is not left unseen.
void resetspinning(P* p) {
  p->spinning = false;
  if (sched_ptr->nmspinning.fetch_sub(1, std::memory_order_acq_rel) == 1) wakep();
}

// Parks a P beyond procs() until procs() grows again.
void stopp(Sched& s, P* p) {
  // Hand everything queued here to the others first.
  while (G* g = runqget(p)) {
    LockGuard lg(s.lock);
    globrunqput_locked(s, g);
  }
  if (p->spinning) resetspinning(p);
  wakep();
  {
    LockGuard lg(s.lock);
    p->stopped = true;
  }
  checkdead();
  while (p->id >= s.gomaxprocs.load(std::memory_order_acquire)) {
    p->note.sleep();
    p->note.clear();
  }
  LockGuard lg(s.lock);
  p->stopped = false;
}

// Finds a runnable G for p, sleeping until there is one.
G* findrunnable(P* p) {
  Sched& s = *sched_ptr;
  auto found = [p](G* gp) {
    if (p->spinning) resetspinning(p);
    return gp;
  };
top:
  if (p->id >= s.gomaxprocs.load(std::memory_order_acquire)) {
    stopp(s, p);
    goto top;
  }
  // Every 61st schedule, look at the global queue first so it cannot starve.
  if (p->schedtick % 61 == 0 && s.runqsize.load(std::memory_order_relaxed) > 0) {
    G* gp;
    {
      LockGuard g(s.lock);
      gp = globrunqget_locked(s, p, 1);
    }
    if (gp) return found(gp);
  }
  if (G* gp = runqget(p)) return found(gp);
  if (s.runqsize.load(std::memory_order_relaxed) > 0) {
    G* gp;
    {
      LockGuard g(s.lock);
      gp = globrunqget_locked(s, p, int32_t(kRunqSize));
    }
    if (gp) return found(gp);
  }

  // Spin: steal from the others. Limit spinners to half the busy Ps.
  int32_t nprocs = s.gomaxprocs.load(std::memory_order_acquire);
  if (p->spinning || 2 * s.nmspinning.load(std::memory_order_acquire) <
                         nprocs - s.npidle.load(std::memory_order_acquire)) {
    if (!p->spinning) {
      p->spinning = true;
      s.nmspinning.fetch_add(1, std::memory_order_acq_rel);
    }
    for (int round = 0; round < 4; round++) {
      uint32_t start = cheaprand();
      for (int32_t k = 0; k < nprocs; k++) {
        P* v = s.allp[(start + uint32_t(k)) % uint32_t(nprocs)].load(std::memory_order_acquire);
        if (v == p || !v) continue;  // null: still being created
        if (G* gp = runqsteal(p, v, round == 3)) return found(gp);
      }
    }
  }

  // Nothing: go idle. Recheck the global queue under the lock first. Once p
  // is on the idle list, a waker owns p->spinning until the note is set.
  bool was_spinning = p->spinning;
  {
    G* gp;
    {
      LockGuard g(s.lock);
      gp = globrunqget_locked(s, p, int32_t(kRunqSize));
      if (!gp) {
        p->spinning = false;
        pidleput_locked(s, p);
      }
    }
    if (gp) return found(gp);
  }
  if (was_spinning) s.nmspinning.fetch_sub(1, std::memory_order_acq_rel);
  // A G made runnable after our checks above, by someone who saw
  // nmspinning > 0 and so did not wake anybody, must not be left behind.
  bool work = s.runqsize.load(std::memory_order_acquire) > 0;
  for (int32_t k = 0; !work && k < nprocs; k++) {
    P* v = s.allp[k].load(std::memory_order_acquire);
    if (v && v != p && !runq_empty(v)) work = true;
  }
  if (work) {
    bool took_back;
    {
      LockGuard g(s.lock);
      took_back = pidleremove_locked(s, p);
    }
    if (took_back) {
      if (was_spinning) {
        p->spinning = true;
        s.nmspinning.fetch_add(1, std::memory_order_acq_rel);
      }
      goto top;
    }
    // Someone already took p off the idle list to wake it: fall through to
    // the note, which is set or about to be.
  }
  // Sleep until a waker takes p off the idle list. A note left set by an
  // earlier wake-up (set_procs wakes busy Ps too) must not send p back to
  // work while it is still listed idle, or it would be listed twice.
  checkdead();
  for (;;) {
    p->note.sleep();
    p->note.clear();
    LockGuard g(s.lock);
    if (!p->idle) break;
  }
  goto top;
}

// The first code a new goroutine runs, on its own stack.
void goroutine_entry(void*) {
  G* g = getg();
  g->start_fn(g->closure);  // runs and destroys the closure
  die_if_forked_child();    // a goroutine that forked: its worker has nothing left
  SwitchReq req{Action::exit, nullptr, nullptr};
  ctx_switch(&g->ctx, &getp()->g0, &req, /*exiting=*/true);
}

// Runs g on p until it switches back, then carries out its request.
void execute(P* p, G* g) {
  casgstatus(g, Gstatus::runnable, Gstatus::running);
  g->runs++;  // its parked stack is about to change (G::frames)
  p->curg = g;
  p->running.store(true, std::memory_order_relaxed);
  auto* req = static_cast<SwitchReq*>(ctx_switch(&p->g0, &g->ctx, nullptr));
  p->running.store(false, std::memory_order_relaxed);
  p->curg = nullptr;
  if (!stack_canary_ok(g->stack)) stack_overflow(g);
  switch (req->action) {
    case Action::park: {
      bool (*unlockf)(G*, void*) = req->unlockf;
      void* arg = req->arg;
      casgstatus(g, Gstatus::running, Gstatus::waiting);
      // From here another thread may ready g; req lives on g's stack.
      if (unlockf && !unlockf(g, arg)) {
        casgstatus(g, Gstatus::waiting, Gstatus::runnable);
        runqput(p, g, /*next=*/true);  // resume it next
      }
      break;
    }
    case Action::yield: {
      casgstatus(g, Gstatus::running, Gstatus::runnable);
      Sched& s = *sched_ptr;
      {
        LockGuard lg(s.lock);
        globrunqput_locked(s, g);
      }
      break;
    }
    case Action::exit:
      casgstatus(g, Gstatus::running, Gstatus::dead);
      ctx_destroy(&g->ctx);
      goroutine_finished(g);
      gfput(&p->gfree, g);
      break;
  }
}

void schedule(P* p) {
  for (;;) {
    G* g = findrunnable(p);
    p->schedtick++;
    execute(p, g);
  }
}

void worker_main(P* p) {
  stw_thread_init();
  signal_thread_init();
  p->tid = int(gettid());
  p->g0_top = reinterpret_cast<uintptr_t>(__builtin_frame_address(0));
  tls_p = p;
  ctx_init_thread(&p->g0);
  schedule(p);
}

}  // namespace

// ---- runtime interface (proc.h) ----

Lock& runtime_start_lock() { return start_lock; }

[[gnu::noinline]] G* current_goroutine() {
  P* p = tls_p;
  return p ? p->curg : nullptr;
}

G* getg() {
  G* g = current_goroutine();
  return g ? g : thread_g();
}

int64_t nanotime() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

int64_t nanotime_coarse() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

uint32_t cheaprand() {
  // wyrand
  uint64_t& st = tls_rand;
  if (st == 0) st = uint64_t(reinterpret_cast<uintptr_t>(&st)) ^ uint64_t(nanotime_coarse()) ^ 0x9E3779B97F4A7C15ull;
  st += 0xa0761d6478bd642full;
  __uint128_t m = __uint128_t(st) * (st ^ 0xe7037ed1a0b428dbull);
  return uint32_t(uint64_t(m >> 64) ^ uint64_t(m));
}

void gopark(G* g, bool (*unlockf)(G*, void*), void* arg, WaitReason reason) {
  die_if_forked_child();  // nobody is left to ready g
  g->waitreason.store(reason, std::memory_order_relaxed);
  g->waitsince = nanotime_coarse();
  if (g->is_thread) {
    casgstatus(g, Gstatus::running, Gstatus::waiting);
    if (unlockf && !unlockf(g, arg)) {
      casgstatus(g, Gstatus::waiting, Gstatus::running);
    } else {
      sched();  // started: the deadlock check reads its processors
      thread_parking();
      while (g->wakeup.load(std::memory_order_acquire) == 0) futex_wait(&g->wakeup, 0);
      thread_unparked();
      g->wakeup.store(0, std::memory_order_relaxed);
      casgstatus(g, Gstatus::runnable, Gstatus::running);
    }
  } else {
    SwitchReq req{Action::park, unlockf, arg};
    ctx_switch(&g->ctx, &getp()->g0, &req);
  }
  g->waitreason.store(WaitReason::none, std::memory_order_relaxed);
}

void goready(G* g) {
  die_if_forked_child();  // g's thread (or every worker) is gone
  casgstatus(g, Gstatus::waiting, Gstatus::runnable);
  if (g->is_thread) {
    g->wakeup.store(1, std::memory_order_release);
    futex_wake(&g->wakeup, 1);
    return;
  }
  NoStop ns;
  P* p = getp();
  if (p && p->curg) {
    runqput(p, g, /*next=*/true);
  } else {
    Sched& s = *sched_ptr;
    LockGuard lg(s.lock);
    globrunqput_locked(s, g);
  }
  wakep();
}

void goready_list(G* head) {
  if (head) die_if_forked_child();
  G* batch = nullptr;
  G* tail = nullptr;
  int32_t n = 0;
  while (head) {
    G* g = head;
    head = g->schedlink;
    if (g->is_thread) {
      goready(g);  // woken on its futex, never queued
      continue;
    }
    casgstatus(g, Gstatus::waiting, Gstatus::runnable);
    g->schedlink = batch;
    batch = g;
    if (!tail) tail = g;
    n++;
  }
  if (!batch) return;
  globrunqputbatch(*sched_ptr, batch, tail, n);
  wakep();
}

bool sched_quiescent() {
  Sched& s = *sched_ptr;
  LockGuard lg(s.lock);
  if (s.runqsize.load(std::memory_order_relaxed) > 0) return false;
  for (int32_t i = 0; i < s.nallp.load(std::memory_order_acquire); i++) {
    P* p = s.allp[i].load(std::memory_order_acquire);
    if (!p->idle && !p->stopped) return false;
  }
  return true;
}

int sched_workers() { return sched_ptr ? sched_ptr->nallp.load(std::memory_order_acquire) : 0; }

int workers(WorkerInfo* out, int max) {
  if (!sched_ptr) return 0;
  int n = 0;
  for (int32_t i = 0; i < sched_ptr->nallp.load(std::memory_order_acquire) && n < max; i++) {
    P* p = sched_ptr->allp[i].load(std::memory_order_acquire);
    if (p && p->tid) out[n++] = {p->tid, p->g0_top, p->curg};
  }
  return n;
}

}  // namespace stray::rt

// ---- public API (stray/go.h, stray/detail/runtime.h) ----

namespace stray {

using namespace rt;

namespace detail {

Spawn spawn_prepare(std::size_t stack_size, std::size_t closure_size, std::size_t closure_align) {
  die_if_forked_child();  // no worker would run it
  sched();  // starts the runtime on first use
  std::size_t size = stack_size ? stack_round(stack_size) : stack_default_size();
  std::size_t align = std::max<std::size_t>(closure_align, 16);
  // Leave at least 4 KiB below the closure for the goroutine's frames.
  if (closure_size + align + kCanaryBytes + stack_guard_bytes(size) + 4096 > size)
    throw std::invalid_argument("stray::go: function object too large for the goroutine stack");
  NoStop ns;
  P* p = getp();
  G* g = gfget(p ? &p->gfree : nullptr, size);
  // Idle, not dead, from here: the closure is built on this stack before
  // spawn_start, and a pass must see it (leak.cc scans an idle G whole).
  g->status.store(Gstatus::idle, std::memory_order_release);
  // The closure sits at the very top of the stack; the initial frame below it.
  uintptr_t top = reinterpret_cast<uintptr_t>(g->stack.hi) - closure_size;
  top &= ~(uintptr_t(align) - 1);
  g->closure = reinterpret_cast<void*>(top);
  return {g, g->closure};
}

void spawn_cancel(Spawn sp) noexcept {
  G* g = static_cast<G*>(sp.g);
  NoStop ns;
  g->status.store(Gstatus::dead, std::memory_order_release);
  P* p = getp();
  gfput(p ? &p->gfree : nullptr, g);
}

void spawn_start(Spawn sp, void (*run)(void*), const void* create_pc) {
  Sched& s = *sched_ptr;
  G* g = static_cast<G*>(sp.g);
  G* parent = current_goroutine();
  g->id = goroutine_started();
  g->parent_id = parent ? parent->id : 0;
  g->account = spawn_account(parent);
  if (g->account) g->account->live.fetch_add(1, std::memory_order_relaxed);
  g->create_pc = create_pc;
  g->start_fn = run;
  g->waitreason.store(WaitReason::none, std::memory_order_relaxed);
  g->waiting = nullptr;
  g->param = nullptr;
  g->reclaim = false;
  ctx_make(&g->ctx, g->stack.lo + kCanaryBytes, static_cast<char*>(g->closure), goroutine_entry);
  g->status.store(Gstatus::runnable, std::memory_order_release);
  NoStop ns;
  P* p = getp();
  if (p && p->curg) {
    runqput(p, g, /*next=*/true);
  } else {
    LockGuard lg(s.lock);
    globrunqput_locked(s, g);
  }
  wakep();
}

}  // namespace detail

void yield() {
  G* g = current_goroutine();
  if (!g) {
    std::this_thread::yield();
    return;
  }
  die_if_forked_child();  // a goroutine that forked: its scheduler must not run
  SwitchReq req{Action::yield, nullptr, nullptr};
  ctx_switch(&g->ctx, &getp()->g0, &req);
}

std::uint64_t goroutine_id() {
  G* g = current_goroutine();
  return g ? g->id : 0;
}

void set_procs(int n) {
  if (n < 1 || n > kMaxProcs) throw std::invalid_argument("stray::set_procs: n must be in [1, 256]");
  die_if_forked_child();  // the Ps it would start or stop have no workers
  Sched& s = sched();
  start_procs(s, n);
  int old = s.gomaxprocs.exchange(n, std::memory_order_acq_rel);
  // Ps that must start (were stopped) or stop (are surplus) notice at the
  // top of their scheduler loop: take idle ones off the idle list and wake
  // them; busy ones get there when their goroutine blocks or yields.
  for (int i = std::min(old, n); i < std::max(old, n); i++) {
    P* p = s.allp[i].load(std::memory_order_acquire);
    {
      LockGuard lg(s.lock);
      pidleremove_locked(s, p);
    }
    p->note.wakeup();
  }
}

int procs() { return sched().gomaxprocs.load(std::memory_order_relaxed); }

int num_goroutine() { return goroutines_live(); }

}  // namespace stray
