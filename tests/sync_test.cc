// sync_test — Mutex, RWMutex, WaitGroup, Cond, Once (stray/sync.h).
#include <atomic>
#include <mutex>
#include <shared_mutex>
#include <thread>
#include <vector>

#include "runtime/lock.h"
#include "test_util.h"

using stray::make_chan;
using stray::Mutex;
using stray::RWMutex;
using stray::Unit;
using stray::WaitGroup;
using stray::rt::WaitReason;
using stray::test::expect_panic;
using stray::test::wait_until_waiting;
using stray::test::waiting;

TEST(Mutex, TryLockAndHolder) {
  Mutex m;
  EXPECT_TRUE(m.try_lock());
  EXPECT_FALSE(m.try_lock());
  EXPECT_EQ(m.holder(), 0u);  // held by a plain thread
  m.unlock();
  auto id = make_chan<std::pair<std::uint64_t, std::uint64_t>>(1);
  stray::go([&m, id]() mutable {
    std::uint64_t held_by;
    {
      std::lock_guard<Mutex> g(m);
      held_by = m.holder();
    }
    id.send({stray::goroutine_id(), held_by});  // after unlock: m may go away
  });
  auto [gid, holder] = *id.recv();
  EXPECT_EQ(gid, holder);
  std::lock_guard<Mutex> g(m);  // the goroutine released it
}

TEST(Mutex, UnlockOfUnlockedPanics) {
  Mutex m;
  expect_panic([&] { m.unlock(); }, "sync: unlock of unlocked mutex");
  // The failed unlock left the mutex usable.
  EXPECT_TRUE(m.try_lock());
  m.unlock();
}

TEST(Mutex, LockedTwiceBlocksForever) {
  stray::test::leaves_goroutines("a goroutine locking its own Mutex twice: nothing can wake it");
  int before = waiting(WaitReason::sync_mutex_lock);
  stray::go([] {
    Mutex m;  // on the goroutine's own stack
    m.lock();
    m.lock();
  });
  wait_until_waiting(before + 1, WaitReason::sync_mutex_lock);
}

class MutexStress : public stray::test::ProcsTest {};

TEST_P(MutexStress, MutualExclusion) {
  Mutex m;
  long counter = 0;  // unsynchronized but for m: any overlap loses increments
  const int goroutines = 16, per = 5000;
  WaitGroup wg;
  for (int i = 0; i < goroutines; i++) {
    wg.go([&] {
      for (int k = 0; k < per; k++) {
        std::lock_guard<Mutex> g(m);
        counter++;
        if (k % 64 == 0) stray::yield();  // park while holding it, sometimes
      }
    });
  }
  // A plain thread competes too.
  std::thread t([&] {
    for (int k = 0; k < per; k++) {
      std::lock_guard<Mutex> g(m);
      counter++;
    }
  });
  wg.wait();
  t.join();
  EXPECT_EQ(counter, long(goroutines + 1) * per);
}
STRAY_PROCS_SWEEP(MutexStress);

TEST(Mutex, FairnessLetsAWaiterIn) {
  // Go's TestMutexFairness: a goroutine that re-locks in a tight loop must not
  // keep a waiter out; starvation mode hands the mutex over. A mutex without
  // it hangs here until ctest's timeout.
  int saved = stray::procs();
  stray::set_procs(2);
  Mutex m;
  auto stop = make_chan<Unit>();
  auto hog_done = make_chan<Unit>();
  stray::go([&m, stop, hog_done]() mutable {
    bool closed = false;
    while (!closed) {
      m.lock();
      stop.try_recv(&closed);
      for (int i = 0; i < 1000; i++) stray::rt::cpu_relax();
      m.unlock();
    }
    hog_done.send({});
  });
  for (int i = 0; i < 10; i++) {
    m.lock();
    m.unlock();
  }
  stop.close();
  hog_done.recv();
  stray::set_procs(saved);
}

TEST(RWMutex, ReadersShareWritersExclude) {
  RWMutex rw;
  rw.lock_shared();
  EXPECT_TRUE(rw.try_lock_shared());  // a second reader
  EXPECT_FALSE(rw.try_lock());
  rw.unlock_shared();
  rw.unlock_shared();
  EXPECT_TRUE(rw.try_lock());
  EXPECT_FALSE(rw.try_lock_shared());
  EXPECT_FALSE(rw.try_lock());
  rw.unlock();
  {
    std::shared_lock<RWMutex> r(rw);
    std::shared_lock<RWMutex> r2(rw);
  }
  std::unique_lock<RWMutex> w(rw);
}

TEST(RWMutex, PendingWriterBlocksNewReaders) {
  RWMutex rw;
  rw.lock_shared();  // an active reader
  int wbefore = waiting(WaitReason::sync_rwmutex_lock);
  int rbefore = waiting(WaitReason::sync_rwmutex_rlock);
  auto order = make_chan<std::string>(2);
  WaitGroup finished;  // both goroutines are out of rw before it goes away
  finished.go([&rw, order]() mutable {
    rw.lock();
    order.send("writer");
    rw.unlock();
  });
  wait_until_waiting(wbefore + 1, WaitReason::sync_rwmutex_lock);
  // Writer preference: a new reader may not overtake the pending writer.
  EXPECT_FALSE(rw.try_lock_shared());
  finished.go([&rw, order]() mutable {
    rw.lock_shared();
    order.send("reader");
    rw.unlock_shared();
  });
  wait_until_waiting(rbefore + 1, WaitReason::sync_rwmutex_rlock);
  rw.unlock_shared();  // the last active reader lets the writer in
  EXPECT_EQ(order.recv(), "writer");
  EXPECT_EQ(order.recv(), "reader");
  finished.wait();
}

TEST(RWMutex, MisusePanics) {
  RWMutex rw;
  expect_panic([&] { rw.unlock_shared(); }, "sync: RUnlock of unlocked RWMutex");
  expect_panic([&] { rw.unlock(); }, "sync: Unlock of unlocked RWMutex");
  EXPECT_TRUE(rw.try_lock());  // still usable
  rw.unlock();
}

TEST(RWMutex, LockAfterLockBlocksForever) {
  stray::test::leaves_goroutines("goroutines locking their own RWMutex again: nothing can wake them");
  int before = waiting(WaitReason::sync_rwmutex_lock);
  int rbefore = waiting(WaitReason::sync_rwmutex_rlock);
  stray::go([] {
    RWMutex rw;
    rw.lock();
    rw.lock();
  });
  stray::go([] {
    RWMutex rw;
    rw.lock();
    rw.lock_shared();
  });
  wait_until_waiting(before + 1, WaitReason::sync_rwmutex_lock);
  wait_until_waiting(rbefore + 1, WaitReason::sync_rwmutex_rlock);
}

TEST(WaitGroup, FanOutFanIn) {
  WaitGroup wg;
  std::atomic<int> ran{0};
  const int n = 10000;
  for (int i = 0; i < n; i++) wg.go([&ran] { ran.fetch_add(1); });
  wg.wait();
  EXPECT_EQ(ran.load(), n);
  wg.wait();  // zero counter: returns at once
}

TEST(WaitGroup, WaitFromGoroutinesAndThreads) {
  WaitGroup wg;
  wg.add(1);
  int before = waiting(WaitReason::sync_waitgroup_wait);
  auto woke = make_chan<Unit>(3);
  for (int i = 0; i < 3; i++) {
    stray::go([&wg, woke]() mutable {
      wg.wait();
      woke.send({});
    });
  }
  wait_until_waiting(before + 3, WaitReason::sync_waitgroup_wait);
  std::thread t([&wg] { wg.done(); });
  for (int i = 0; i < 3; i++) woke.recv();
  t.join();
}

TEST(WaitGroup, NegativeCounterPanics) {
  WaitGroup wg;
  expect_panic([&] { wg.done(); }, "sync: negative WaitGroup counter");
  wg.add(1);  // the failed done() left the counter at zero
  wg.done();
  wg.wait();
}

TEST(WaitGroup, NeverDoneBlocksForever) {
  stray::test::leaves_goroutines("a goroutine waiting on its own WaitGroup: nothing can wake it");
  int before = waiting(WaitReason::sync_waitgroup_wait);
  stray::go([] {
    WaitGroup wg;
    wg.add(1);
    wg.wait();
  });
  wait_until_waiting(before + 1, WaitReason::sync_waitgroup_wait);
}

TEST(Cond, SignalWakesOneBroadcastWakesAll) {
  Mutex m;
  stray::Cond c(m);
  int generation = 0;
  const int n = 5;
  auto woke = make_chan<int>(n);
  int before = waiting(WaitReason::sync_cond_wait);
  for (int i = 0; i < n; i++) {
    stray::go([&, woke]() mutable {
      std::unique_lock<Mutex> l(m);
      int seen = generation;
      while (generation == seen) c.wait();
      int g = generation;
      l.unlock();  // before signalling the test, which then destroys m
      woke.send(g);
    });
  }
  wait_until_waiting(before + n, WaitReason::sync_cond_wait);
  {
    std::lock_guard<Mutex> l(m);
    generation = 1;
  }
  c.signal();
  EXPECT_EQ(woke.recv(), 1);
  wait_until_waiting(before + n - 1, WaitReason::sync_cond_wait);
  EXPECT_EQ(woke.len(), 0u);  // exactly one woke
  c.broadcast();
  for (int i = 1; i < n; i++) EXPECT_EQ(woke.recv(), 1);
}

TEST(Cond, ProducerConsumer) {
  Mutex m;
  stray::Cond nonempty(m);
  std::vector<int> queue;
  const int n = 10000;
  WaitGroup wg;
  long sum = 0;
  wg.go([&] {
    for (int got = 0; got < n; got++) {
      std::unique_lock<Mutex> l(m);
      while (queue.empty()) nonempty.wait();
      sum += queue.back();
      queue.pop_back();
    }
  });
  for (int i = 1; i <= n; i++) {
    std::lock_guard<Mutex> l(m);
    queue.push_back(i);
    nonempty.signal();
  }
  wg.wait();
  EXPECT_EQ(sum, long(n) * (n + 1) / 2);
}

TEST(Once, RunsExactlyOnceAndOthersWait) {
  stray::Once once;
  std::atomic<int> calls{0};
  std::atomic<int> after{0};
  WaitGroup wg;
  for (int i = 0; i < 100; i++) {
    wg.go([&] {
      once.call([&] {
        stray::yield();  // let the others pile up behind
        calls.fetch_add(1);
      });
      after.fetch_add(calls.load());  // f has returned for every caller
    });
  }
  wg.wait();
  EXPECT_EQ(calls.load(), 1);
  EXPECT_EQ(after.load(), 100);
}

TEST(Once, ThrowingFunctionCountsAsDone) {
  stray::Once once;
  EXPECT_THROW(once.call([] { throw std::runtime_error("first"); }), std::runtime_error);
  bool ran = false;
  once.call([&] { ran = true; });
  EXPECT_FALSE(ran);
}
