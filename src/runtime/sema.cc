// sema.cc — address-keyed semaphores and notify lists (see sema.h).
//
// Buckets: 251 (prime, as Go's semTabSize), each a lock and one FIFO list of
// sudogs whose `elem` is the key they wait on. Go keeps a treap of keys per
// bucket to make "first waiter on this key" O(log n); here the list is
// scanned, which stays short unless thousands of goroutines wait on objects
// that hash alike. The table itself is runtime memory (arena): the leak
// detector must not read the keys it holds as references to user objects.
#include "runtime/sema.h"

#include <new>

#include "runtime/arena.h"
#include "runtime/fatal.h"
#include "runtime/lock.h"
#include "runtime/proc.h"
#include "stray/go.h"

namespace stray::rt {
namespace {

constexpr std::size_t kBuckets = 251;

struct alignas(64) Bucket {
  Lock lock;
  std::atomic<uint32_t> nwait{0};  // semacquire waiters queued or about to be
  sudog* head GUARDED_BY(lock) = nullptr;
  sudog* tail GUARDED_BY(lock) = nullptr;

  void enqueue(sudog* s, bool lifo) REQUIRES(lock) {
    s->prev = nullptr;
    s->next = nullptr;
    if (!head) {
      head = tail = s;
    } else if (lifo) {
      s->next = head;
      head->prev = s;
      head = s;
    } else {
      s->prev = tail;
      tail->next = s;
      tail = s;
    }
  }

  void remove(sudog* s) REQUIRES(lock) {
    if (s->prev) s->prev->next = s->next; else head = s->next;
    if (s->next) s->next->prev = s->prev; else tail = s->prev;
    s->next = s->prev = nullptr;
  }

  // The first waiter on key with the given ticket (any ticket if match_ticket
  // is false), removed from the list; null if none.
  sudog* take(const void* key, bool match_ticket, uint32_t ticket) REQUIRES(lock) {
    for (sudog* s = head; s; s = s->next) {
      if (s->elem == key && (!match_ticket || s->ticket == ticket)) {
        remove(s);
        return s;
      }
    }
    return nullptr;
  }
};

Bucket* table() {
  static Bucket* t = [] {
    auto* b = static_cast<Bucket*>(arena_alloc(sizeof(Bucket) * kBuckets));
    for (std::size_t i = 0; i < kBuckets; i++) ::new (&b[i]) Bucket;
    return b;
  }();
  return t;
}

Bucket& bucket(const void* key) {
  return table()[(reinterpret_cast<uintptr_t>(key) >> 3) % kBuckets];
}

bool cansemacquire(std::atomic<uint32_t>* addr) {
  uint32_t v = addr->load(std::memory_order_relaxed);
  while (v > 0) {
    if (addr->compare_exchange_weak(v, v - 1, std::memory_order_acquire)) return true;
  }
  return false;
}

bool unlock_bucket(G*, void* lock) NO_THREAD_SAFETY_ANALYSIS {
  static_cast<Lock*>(lock)->unlock();
  return true;
}

// Queues g's sudog s on b and parks; b.lock held on entry, released by the park.
void park_in(Bucket& b, G* g, sudog* s, bool lifo, const void* key, WaitReason reason)
    NO_THREAD_SAFETY_ANALYSIS {
  b.enqueue(s, lifo);
  g->waiting_on = key;
  gopark(g, unlock_bucket, &b.lock, reason);
  g->waiting_on = nullptr;
}

bool ticket_less(uint32_t a, uint32_t b) { return int32_t(a - b) < 0; }

}  // namespace

// (The analysis cannot see that park_in's gopark releases b.lock.)
void semacquire(std::atomic<uint32_t>* addr, bool lifo, WaitReason reason)
    NO_THREAD_SAFETY_ANALYSIS {
  if (cansemacquire(addr)) return;
  G* g = getg();
  sudog* s = acquire_sudog(g);
  Bucket& b = bucket(addr);
  for (;;) {
    b.lock.lock();
    // Count ourselves first: a release after this sees us (sema.h).
    b.nwait.fetch_add(1, std::memory_order_seq_cst);
    if (cansemacquire(addr)) {
      b.nwait.fetch_sub(1, std::memory_order_relaxed);
      b.lock.unlock();
      break;
    }
    *s = sudog{g, nullptr, nullptr, addr, nullptr, nullptr, false, false, 0, 0};
    park_in(b, g, s, lifo, addr, reason);
    STRAY_DCHECK(s->g == g && s->elem == addr, "stray: semacquire: woken with a sudog not its own");
    // Woken by semrelease, which dequeued s. ticket 1: the semaphore was
    // handed to us; otherwise compete for it again.
    if (s->ticket != 0 || cansemacquire(addr)) break;
  }
  release_sudog(g, s);
}

void semrelease(std::atomic<uint32_t>* addr, bool handoff) {
  Bucket& b = bucket(addr);
  addr->fetch_add(1, std::memory_order_seq_cst);
  if (b.nwait.load(std::memory_order_seq_cst) == 0) return;
  sudog* s;
  {
    LockGuard lg(b.lock);
    if (b.nwait.load(std::memory_order_relaxed) == 0) return;
    s = b.take(addr, false, 0);
    if (s) b.nwait.fetch_sub(1, std::memory_order_relaxed);
  }
  if (!s) return;
  // The waiter is parked until we ready it, so the object behind addr is
  // still alive here.
  if (handoff && cansemacquire(addr)) s->ticket = 1;
  bool handed = s->ticket == 1;
  goready(s->g);
  // Let the new owner run now rather than behind us (Go: goyield).
  if (handed && current_goroutine()) stray::yield();
}

void semrelease_n(std::atomic<uint32_t>* addr, uint32_t n) {
  if (n == 0) return;
  Bucket& b = bucket(addr);
  addr->fetch_add(n, std::memory_order_seq_cst);
  // From here on addr is only a key: never dereferenced.
  if (b.nwait.load(std::memory_order_seq_cst) == 0) return;
  G* ready = nullptr;
  {
    LockGuard lg(b.lock);
    for (uint32_t i = 0; i < n; i++) {
      sudog* s = b.take(addr, false, 0);
      if (!s) break;
      b.nwait.fetch_sub(1, std::memory_order_relaxed);
      s->g->schedlink = ready;
      ready = s->g;
    }
  }
  goready_list(ready);
}

uint32_t notify_list_add(std::atomic<uint32_t>* wait) {
  return wait->fetch_add(1, std::memory_order_acq_rel);
}

void notify_list_wait(const void* key, std::atomic<uint32_t>* notify, uint32_t ticket,
                      WaitReason reason) NO_THREAD_SAFETY_ANALYSIS {
  Bucket& b = bucket(key);
  b.lock.lock();
  if (ticket_less(ticket, notify->load(std::memory_order_acquire))) {
    b.lock.unlock();  // notified between add and wait
    return;
  }
  G* g = getg();
  sudog* s = acquire_sudog(g);
  *s = sudog{g, nullptr, nullptr, const_cast<void*>(key), nullptr, nullptr, false, false, 0, ticket};
  park_in(b, g, s, false, key, reason);
  release_sudog(g, s);
}

void notify_list_notify_one(const void* key, std::atomic<uint32_t>* wait,
                            std::atomic<uint32_t>* notify) {
  if (wait->load(std::memory_order_acquire) == notify->load(std::memory_order_acquire)) return;
  Bucket& b = bucket(key);
  sudog* s;
  {
    LockGuard lg(b.lock);
    uint32_t t = notify->load(std::memory_order_relaxed);
    if (t == wait->load(std::memory_order_acquire)) return;
    notify->store(t + 1, std::memory_order_release);
    // The waiter with ticket t may not have queued yet; then it sees
    // notify > t in notify_list_wait and does not sleep.
    s = b.take(key, true, t);
  }
  if (s) goready(s->g);
}

void notify_list_notify_all(const void* key, std::atomic<uint32_t>* wait,
                            std::atomic<uint32_t>* notify) {
  if (wait->load(std::memory_order_acquire) == notify->load(std::memory_order_acquire)) return;
  Bucket& b = bucket(key);
  G* ready = nullptr;
  {
    LockGuard lg(b.lock);
    notify->store(wait->load(std::memory_order_acquire), std::memory_order_release);
    while (sudog* s = b.take(key, false, 0)) {
      s->g->schedlink = ready;
      ready = s->g;
    }
  }
  goready_list(ready);
}

}  // namespace stray::rt
