// g.h — the goroutine descriptor (G), waiter records (sudog), goroutine
// statuses and wait reasons (Go: runtime2.go).
//
// A G lives in the runtime arena and is never freed: a finished G goes on a
// free list (with its stack) and is reused, and every G ever made stays on
// the all-goroutines registry (allgs), which the leak detector and dumps walk.
//
// Plain OS threads that block in stray get a G too ("thread G", is_thread):
// the same wait queues and wake-up path serve both, but a thread G has no
// stack of its own, id 0, and blocks its thread on a futex instead of
// switching. Thread Gs are not on allgs and not counted by num_goroutine().
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>

#include "runtime/arena.h"
#include "runtime/fn_ref.h"
#include "runtime/stack.h"
#include "stray/detail/runtime.h"
#include "runtime/switch.h"

namespace stray::rt {

struct G;
using detail::hchan;

// Whom a goroutine is charged to (stray::testing's per-test attribution,
// src/testing/testing.cc): a goroutine inherits its creator's account, or,
// made by a plain thread, the process's current one (set_spawn_account).
// `live` counts the account's goroutines that have started and not
// finished: a check polls it instead of stopping the world. Accounts are
// never freed (one small object per test).
struct Account {
  std::atomic<int> live{0};
};

// Goroutine status. Each says who owns the stack, which queue the G is on,
// and who may change it; every transition goes through casgstatus (g.cc).
enum class Gstatus : uint8_t {
  idle,      // being created; owned by the spawning thread; on no queue
  runnable,  // on a run queue (or a P's runnext); not executing; owned by that queue
  running,   // executing on a worker (or a thread G not blocked); owns its stack
  waiting,   // parked; its sudogs are on wait queues; whoever dequeues one may ready it
  leaked,    // parked and proven unreachable by the leak detector; never runs again
  dead,      // finished; on a free list; stack unused
};

// A status as a word, for fatal errors and logs (Go prints _Gwaiting etc.).
constexpr const char* gstatus_string(Gstatus s) {
  switch (s) {
    case Gstatus::idle: return "idle";
    case Gstatus::runnable: return "runnable";
    case Gstatus::running: return "running";
    case Gstatus::waiting: return "waiting";
    case Gstatus::leaked: return "leaked";
    case Gstatus::dead: return "dead";
  }
  return "?";
}

// Why a G is waiting: one per blocking site, Go's strings (waitReasonStrings).
enum class WaitReason : uint8_t {
  none,
  chan_send,
  chan_receive,
  chan_send_nil,
  chan_receive_nil,
  select,
  select_no_cases,
  sync_mutex_lock,
  sync_rwmutex_rlock,
  sync_rwmutex_lock,
  sync_waitgroup_wait,
  sync_cond_wait,
  sleep,
};

// The leak detector's allow-list (DESIGN.md §4: unknown means root): true
// only for waits that nothing but a reachable channel or sync object can
// end. A switch without default, so a new reason fails to compile until it
// is classified here — never leak-eligible by accident.
constexpr bool can_leak(WaitReason r) {
  switch (r) {
    case WaitReason::chan_send:
    case WaitReason::chan_receive:
    case WaitReason::chan_send_nil:
    case WaitReason::chan_receive_nil:
    case WaitReason::select:
    case WaitReason::select_no_cases:
    case WaitReason::sync_mutex_lock:
    case WaitReason::sync_rwmutex_rlock:
    case WaitReason::sync_rwmutex_lock:
    case WaitReason::sync_waitgroup_wait:
    case WaitReason::sync_cond_wait:
      return true;
    case WaitReason::none:   // not waiting (or a state the pass does not know)
    case WaitReason::sleep:  // a timer will wake it
      return false;
  }
  return false;  // not a WaitReason value at all: a root
}

inline const char* wait_reason_string(WaitReason r) {
  switch (r) {
    case WaitReason::none: return "";
    case WaitReason::chan_send: return "chan send";
    case WaitReason::chan_receive: return "chan receive";
    case WaitReason::chan_send_nil: return "chan send (nil chan)";
    case WaitReason::chan_receive_nil: return "chan receive (nil chan)";
    case WaitReason::select: return "select";
    case WaitReason::select_no_cases: return "select (no cases)";
    case WaitReason::sync_mutex_lock: return "sync.Mutex.Lock";
    case WaitReason::sync_rwmutex_rlock: return "sync.RWMutex.RLock";
    case WaitReason::sync_rwmutex_lock: return "sync.RWMutex.Lock";
    case WaitReason::sync_waitgroup_wait: return "sync.WaitGroup.Wait";
    case WaitReason::sync_cond_wait: return "sync.Cond.Wait";
    case WaitReason::sleep: return "sleep";
  }
  return "";
}

// A G waiting on a channel or a semaphore (Go: sudog). One per channel
// operation the G waits in (one for send/recv, one per case for select), or
// one for a sync primitive. Lives in the arena. All fields are guarded by the
// lock of the queue that holds it (a channel's, or a sema bucket's).
struct sudog {
  G* g;
  sudog* next;         // wait queue links
  sudog* prev;
  void* elem;          // channel: the value to move / storage to fill;
                       // semaphore: the address waited on (the key)
  hchan* c;            // the channel waited on (null for a semaphore)
  sudog* waitlink;     // the G's list of sudogs (g->waiting), in lock order
  bool is_select;      // part of a select: must win g->select_done to fire
  bool success;        // woken by a completed operation (false: by close)
  uint16_t case_index; // select: which case this sudog stands for
  uint32_t ticket;     // semaphore: 1 = handed the semaphore directly;
                       // Cond: the notify ticket it waits for
};

struct G {
  Context ctx;         // saved registers while not running (switch.h)
  Stack stack;         // [lo, hi); empty for thread Gs
  uint64_t id = 0;     // 1, 2, ...; 0 for thread Gs
  std::atomic<Gstatus> status{Gstatus::idle};
  std::atomic<WaitReason> waitreason{WaitReason::none};  // read by dumps while running
  bool is_thread = false;
  std::atomic<uint32_t> select_done{0};  // a select's sudogs race to set it
  std::atomic<uint32_t> wakeup{0};       // thread G: futex word set by ready()
  int64_t waitsince = 0;                 // nanotime_coarse() when it started waiting
  sudog* waiting = nullptr;  // sudogs of the channel operation / select it waits in
  const void* waiting_on = nullptr;  // the sync object (Mutex, WaitGroup, ...) it waits on
  sudog* param = nullptr;    // the sudog that woke it (Go: g.param)
  bool reclaim = false;      // resumed by a reclaim: throw goroutine_leaked
                             // (set before it is readied; reclaim.cc)

  uint64_t parent_id = 0;          // creator's id (0: created by a plain thread)
  Account* account = nullptr;      // whom it is charged to (null: nobody)
  const void* create_pc = nullptr; // return address at the go() call
  void (*start_fn)(void*) = nullptr;  // the closure's run function
  void* closure = nullptr;            // on top of the G's own stack

  sudog* sudogcache = nullptr;  // spare sudogs, touched only by this G itself
  int nsudogcache = 0;

  // The leak pass's cache of this G's parked stack (leak.cc): its frames
  // as a pass unwound them, valid while the G is the same goroutine
  // (frames_id == id) and has not run since (frames_runs == runs). Written
  // and read only by passes, with the world stopped or, for a leaked G,
  // which never runs again, after.
  uint64_t runs = 0;  // times execute() resumed it
  uint64_t frames_runs = 0;
  uint64_t frames_id = 0;
  const uintptr_t* frames = nullptr;  // interned: never freed
  int frames_n = 0;

  G* schedlink = nullptr;  // run queue / free list link
  G* alllink = nullptr;    // allgs registry link (never unlinked)
};

// What a blocked G waits on (the leak detector's one view of it): calls
// on_chan(c) for the channel of each of its sudogs and returns the sync
// object it sleeps on (null if none). Read with the world stopped, or by
// the G's owner.
template <class F>
const void* wait_targets(const G* g, F on_chan) {
  for (const sudog* sg = g->waiting; sg; sg = sg->waitlink)
    if (sg->c) on_chan(sg->c);
  return g->waiting_on;
}

// Sudogs for the calling G's own use (Go: acquireSudog / releaseSudog, with
// the cache per G instead of per P: only the G itself touches it).
inline sudog* acquire_sudog(G* g) {
  if (sudog* sg = g->sudogcache) {
    g->sudogcache = sg->next;
    g->nsudogcache--;
    return sg;
  }
  return static_cast<sudog*>(arena_alloc(sizeof(sudog)));
}

inline void release_sudog(G* g, sudog* sg) {
  if (g->nsudogcache >= 8) {
    arena_free(sg);
    return;
  }
  sg->next = g->sudogcache;
  g->sudogcache = sg;
  g->nsudogcache++;
}

// ---- lifecycle (g.cc) ----

// The one place a G's status changes (Go: casgstatus). Every transition is
// made by the G's single current owner (see Gstatus), so a checked load and
// a release store suffice; a locked compare-and-swap cost ~5% of a channel
// round trip. A mismatch is a runtime bug (fatal_g), except waking a G the
// leak detector reported: the soundness oracle (STRAY_LEAK_ORACLE=1 aborts
// with "false positive: goroutine N"; otherwise it is said once).
void casgstatus(G* g, Gstatus from, Gstatus to);

// Marks a waiting goroutine leaked (the leak detector, world stopped): it
// stays parked, and waking it later trips the soundness oracle.
void set_leaked(G* g);

// ---- reclaim (reclaim.cc) ----

// Resumes every leaked goroutine with goroutine_leaked (stray::reclaim_leaked
// says how); returns how many it resumed or readied to resume.
int reclaim_leaked_gs();

// Held by a reclaim while it runs. A leak pass holds it from before it
// stops the world until it has unwound the leaked stacks, which it does
// after restarting the world: only a reclaim could make them run again.
// Lock order: a pass's pass_mu, then this.
std::mutex& reclaim_mutex();

// For a goroutine back from a park: whether a reclaim resumed it; clears
// the mark.
inline bool take_reclaim(G* g) {
  if (!g->reclaim) [[likely]]
    return false;
  g->reclaim = false;
  return true;
}
// Throws goroutine_leaked naming g and what it waited for.
[[noreturn]] void throw_leaked(const G* g, WaitReason reason);
inline void throw_if_reclaimed(G* g, WaitReason reason) {
  if (take_reclaim(g)) throw_leaked(g, reason);
}

// Broken-invariant report for a G: prints and aborts.
[[noreturn]] void fatal_g(const char* what, const G* g);

// A processor's cache of finished Gs (Go: p.gFree), touched only by its
// worker; up to kGfreeMax before half goes to the global lists.
constexpr int kGfreeMax = 64;
struct GCache {
  G* list = nullptr;
  int n = 0;
};

// Puts a finished (dead) G on the free lists: local's cache, or straight
// to the global lists when local is null (a plain thread).
void gfput(GCache* local, G* g);

// A free G with a stack of stack_size bytes, from local's cache (may be
// null), the global lists, or newly made and put on allgs.
G* gfget(GCache* local, std::size_t stack_size);

// Counts a goroutine as started and returns its new id (1, 2, ...).
uint64_t goroutine_started();
// Counts a goroutine as finished (and off its account's live count).
void goroutine_finished(G* g);
// Goroutines started and not finished, leaked ones included (num_goroutine).
int goroutines_live();

// The account of goroutines that plain threads create from now on (null:
// none); goroutines inherit their creator's. stray::testing sets it.
void set_spawn_account(Account* a);
// The account a goroutine made now is charged to: its creator's (creator
// null: a plain thread), or the runtime's own inside a ServiceSpawn.
Account* spawn_account(const G* creator);

// The runtime's own goroutines (context deadlines): charged to
// service_account(), which stray::testing never blames. Goroutines made on
// this thread while one is in scope count as the runtime's.
Account* service_account();
class ServiceSpawn {
 public:
  ServiceSpawn();
  ~ServiceSpawn();
  ServiceSpawn(const ServiceSpawn&) = delete;
  ServiceSpawn& operator=(const ServiceSpawn&) = delete;
};

// The calling plain thread's thread G, made on first use and released when
// the thread exits.
G* thread_g();

// Goroutines (not thread Gs) now in `status` and, for waiting ones, with
// wait reason `reason` (WaitReason::none: any). A racy snapshot for tests
// and dumps.
int count_goroutines(Gstatus status, WaitReason reason = WaitReason::none);

// Calls fn(g) for every goroutine descriptor ever made (allgs), dead ones
// included, holding allglock (fn must not take runtime locks or block).
void for_each_g_locked(FnRef<void(G*)> fn);

// Calls fn(g) for every goroutine descriptor ever made (allgs), dead ones
// included. Takes no lock: for the leak detector with the world stopped.
void for_each_g(FnRef<void(G*)> fn);

// Calls fn(g) for the thread G of every live plain thread, under the
// registry's lock (fn must not block or take a runtime lock).
void for_each_threadg(FnRef<void(G*)> fn);

}  // namespace stray::rt
