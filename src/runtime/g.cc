// g.cc — the life of a G descriptor (Go: the G half of proc.go — casgstatus,
// allgadd, gfput/gfget, and the thread Gs of plain threads).
//
// Owns: the all-goroutines registry (allgs: every goroutine G ever made,
// never unlinked) and the list of live threads' thread Gs, the global free
// lists of finished Gs, goroutine ids and the live-goroutine count, and the
// status transitions with their soundness oracle.
//
// Free Gs. Each P caches up to kGfreeMax finished Gs with their stacks
// (GCache, touched only by its P's worker); overflow goes to a global cache
// of up to kGfreeHotMax Gs that keep their stacks too (their pages stay
// committed, so a new goroutine starts without page faults), and beyond that
// the stack goes back to the OS (MADV_DONTNEED) and the bare G to the cold
// list. Non-default stacks are never cached.
//
// Invariants:
// * A G is on allgs from its creation on, whatever its status; a dead G is
//   on exactly one free list (a P's cache, hot or cold).
// * Every status change goes through casgstatus, made by the G's single
//   current owner (g.h's Gstatus).
// Locks: gflock > allglock, both below sched.lock (lock.h's list).
#include <cstdio>

#include "runtime/arena.h"
#include "runtime/fatal.h"
#include "runtime/g.h"
#include "runtime/lock.h"
#include "runtime/options.h"

namespace stray::rt {
namespace {

constexpr int kGfreeHotMax = 16384;  // finished Gs cached globally with their stacks

struct GLists {
  Lock gflock;
  G* gfree_hot GUARDED_BY(gflock) = nullptr;   // with default-size stacks
  std::atomic<int32_t> ngfree_hot{0};          // written under gflock
  G* gfree_cold GUARDED_BY(gflock) = nullptr;  // without stacks

  Lock allglock;
  G* allgs GUARDED_BY(allglock) = nullptr;
  G* threadgs GUARDED_BY(allglock) = nullptr;  // thread Gs of live threads

  std::atomic<uint64_t> goidgen{0};
  std::atomic<int32_t> ngoroutines{0};
};
// Constant-initialised and trivially destructible: usable from the first
// thread G on (before the scheduler starts), by threads that exit after
// static destructors ran, and in a forked child (no initialisation guard a
// fork could strand half-taken).
constinit GLists lists;

thread_local G* tls_threadg = nullptr;  // a plain thread's thread G

// The soundness oracle: a goroutine the leak detector reported is being
// woken, so the report was wrong. With STRAY_LEAK_ORACLE=1 (the test
// suite) that ends the program; otherwise it is said once and the
// goroutine runs on.
[[gnu::noinline]] void leaked_resumed(const G* g) {
  if (options().leak_oracle) {
    write_err("fatal error: stray leak detector: false positive: goroutine ");
    write_err_u64(g->id);
    write_err(" was reported leaked and is being resumed\n");
    abort();
  }
  static std::atomic<bool> said{false};
  if (!said.exchange(true)) {
    write_err("stray: leak detector false positive: goroutine ");
    write_err_u64(g->id);
    write_err(" was reported leaked and is being resumed (please report this)\n");
  }
}

// A cached G's stack goes back to the OS; the bare G to the cold list.
void put_cold(GLists& l, G* head) {
  G* last = head;
  for (G* gp = head; gp; gp = gp->schedlink) {
    if (gp->stack.lo) stack_free(gp->stack);
    gp->stack = {};
    last = gp;
  }
  LockGuard lg(l.gflock);
  last->schedlink = l.gfree_cold;
  l.gfree_cold = head;
}

// A plain thread's thread G, released when the thread exits.
struct ThreadGHolder {
  G* g = nullptr;
  ~ThreadGHolder() {
    // A forked child's exit() runs this for the thread G the forking thread
    // had in the parent: the registry's lock may be held by a thread that
    // is gone, and the process ends anyway.
    if (!g || in_forked_child.load(std::memory_order_relaxed)) return;
    {
      GLists& l = lists;
      LockGuard lg(l.allglock);
      for (G** link = &l.threadgs; *link; link = &(*link)->alllink) {
        if (*link == g) {
          *link = g->alllink;
          break;
        }
      }
    }
    for (sudog* sg = g->sudogcache; sg;) {
      sudog* next = sg->next;
      arena_free(sg);
      sg = next;
    }
    arena_delete(g);
  }
};
thread_local ThreadGHolder tls_threadg_holder;

}  // namespace

void casgstatus(G* g, Gstatus from, Gstatus to) {
  if (g->status.load(std::memory_order_acquire) != from) [[unlikely]] {
    if (!(from == Gstatus::waiting && g->status.load() == Gstatus::leaked)) {
      char what[96];
      snprintf(what, sizeof what, "stray: bad goroutine status transition %s -> %s", gstatus_string(from),
               gstatus_string(to));
      fatal_g(what, g);
    }
    leaked_resumed(g);
  }
  g->status.store(to, std::memory_order_release);
}

void set_leaked(G* g) { g->status.store(Gstatus::leaked, std::memory_order_release); }

void fatal_g(const char* what, const G* g) {
  write_err("fatal error: ");
  write_err(what);
  write_err(" (goroutine ");
  write_err_u64(g->id);
  write_err(", status ");
  write_err(gstatus_string(g->status.load()));
  write_err(", wait reason \"");
  write_err(wait_reason_string(g->waitreason.load(std::memory_order_relaxed)));
  write_err("\")\n");
  abort();
}

void gfput(GCache* local, G* g) {
  if (g->stack.size() != stack_default_size()) {
    stack_free(g->stack);
    g->stack = {};
  }
  GLists& l = lists;
  if (!local) {  // a plain thread has no cache of its own
    g->schedlink = nullptr;
    return put_cold(l, g);
  }
  g->schedlink = local->list;
  local->list = g;
  if (++local->n < kGfreeMax) return;
  // Move half to the global lists; free stacks outside the lock.
  G* cold = nullptr;
  {
    LockGuard lg(l.gflock);
    while (local->n > kGfreeMax / 2) {
      G* gp = local->list;
      local->list = gp->schedlink;
      local->n--;
      if (gp->stack.lo && l.ngfree_hot < kGfreeHotMax) {
        gp->schedlink = l.gfree_hot;
        l.gfree_hot = gp;
        l.ngfree_hot++;
      } else {
        gp->schedlink = cold;
        cold = gp;
      }
    }
  }
  if (cold) put_cold(l, cold);
}

G* gfget(GCache* local, std::size_t stack_size) {
  GLists& l = lists;
  bool standard = stack_size == stack_default_size();
  if (local && standard) {
    if (!local->list && l.ngfree_hot > 0) {
      // Refill half the local cache from the global hot list.
      LockGuard lg(l.gflock);
      while (local->n < kGfreeMax / 2 && l.gfree_hot) {
        G* gp = l.gfree_hot;
        l.gfree_hot = gp->schedlink;
        l.ngfree_hot--;
        gp->schedlink = local->list;
        local->list = gp;
        local->n++;
      }
    }
    if (G* g = local->list) {
      local->list = g->schedlink;
      local->n--;
      return g;
    }
  }
  G* g = nullptr;
  {
    LockGuard lg(l.gflock);
    if (standard && l.gfree_hot) {
      g = l.gfree_hot;
      l.gfree_hot = g->schedlink;
      l.ngfree_hot--;
    } else if ((g = l.gfree_cold)) {
      l.gfree_cold = g->schedlink;
    }
  }
  if (!g) {
    g = arena_new<G>();
    LockGuard lg(l.allglock);
    g->alllink = l.allgs;
    l.allgs = g;
  }
  if (g->stack.lo && g->stack.size() != stack_size) {
    stack_free(g->stack);
    g->stack = {};
  }
  if (!g->stack.lo) g->stack = stack_alloc(stack_size);
  return g;
}

uint64_t goroutine_started() {
  GLists& l = lists;
  l.ngoroutines.fetch_add(1, std::memory_order_relaxed);
  return l.goidgen.fetch_add(1, std::memory_order_relaxed) + 1;
}

void goroutine_finished(G* g) {
  lists.ngoroutines.fetch_sub(1, std::memory_order_relaxed);
  if (Account* a = g->account) a->live.fetch_sub(1, std::memory_order_relaxed);
}

namespace {
constinit std::atomic<Account*> spawn_acct{nullptr};
constinit Account service;
constinit thread_local int tls_service_spawns = 0;
}  // namespace

void set_spawn_account(Account* a) { spawn_acct.store(a, std::memory_order_relaxed); }

Account* spawn_account(const G* creator) {
  if (__builtin_expect(tls_service_spawns != 0, 0)) return &service;
  return creator ? creator->account : spawn_acct.load(std::memory_order_relaxed);
}

Account* service_account() { return &service; }
ServiceSpawn::ServiceSpawn() { tls_service_spawns++; }
ServiceSpawn::~ServiceSpawn() { tls_service_spawns--; }

int goroutines_live() { return lists.ngoroutines.load(std::memory_order_relaxed); }

[[gnu::noinline]] G* thread_g() {
  if (!tls_threadg) {
    G* g = arena_new<G>();
    g->is_thread = true;
    g->status.store(Gstatus::running, std::memory_order_relaxed);
    {
      GLists& l = lists;
      LockGuard lg(l.allglock);
      g->alllink = l.threadgs;
      l.threadgs = g;
    }
    tls_threadg = g;
    tls_threadg_holder.g = g;
  }
  return tls_threadg;
}

int count_goroutines(Gstatus status, WaitReason reason) {
  GLists& l = lists;
  LockGuard lg(l.allglock);
  int n = 0;
  for (G* g = l.allgs; g; g = g->alllink) {
    if (g->status.load(std::memory_order_acquire) != status) continue;
    if (reason == WaitReason::none || g->waitreason.load(std::memory_order_relaxed) == reason) n++;
  }
  return n;
}

void for_each_g_locked(FnRef<void(G*)> fn) {
  GLists& l = lists;
  LockGuard lg(l.allglock);
  for (G* g = l.allgs; g; g = g->alllink) fn(g);
}

void for_each_g(FnRef<void(G*)> fn) NO_THREAD_SAFETY_ANALYSIS {
  for (G* g = lists.allgs; g; g = g->alllink) fn(g);
}

void for_each_threadg(FnRef<void(G*)> fn) {
  GLists& l = lists;
  LockGuard lg(l.allglock);
  for (G* g = l.threadgs; g; g = g->alllink) fn(g);
}

}  // namespace stray::rt
