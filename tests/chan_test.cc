// chan_test — channel semantics, one test per rule of stray/chan.h.
#include <atomic>
#include <memory>
#include <set>
#include <thread>
#include <vector>

#include "test_util.h"

using stray::Chan;
using stray::make_chan;
using stray::Unit;
using stray::rt::WaitReason;
using stray::test::expect_panic;
using stray::test::Latch;
using stray::test::wait_until_waiting;

TEST(Chan, UnbufferedTryOpsNeedAPartner) {
  auto c = make_chan<int>();
  EXPECT_FALSE(c.try_send(1));
  EXPECT_FALSE(c.try_recv());
  EXPECT_EQ(c.len(), 0u);
  EXPECT_EQ(c.cap(), 0u);
}

TEST(Chan, UnbufferedIsARendezvous) {
  // When the receiver holds value i, the sender can have completed at most
  // i+1 sends: each send needs its own receive.
  auto c = make_chan<int>();
  auto finished = make_chan<Unit>(1);  // the sender must not outlive `sent`
  std::atomic<int> sent{0};
  const int n = 2000;
  stray::go([c, finished, &sent]() mutable {
    for (int i = 0; i < n; i++) {
      c.send(i);
      sent.fetch_add(1);
    }
    finished.send({});
  });
  for (int i = 0; i < n; i++) {
    auto v = c.recv();
    EXPECT_EQ(v, i);
    EXPECT_LE(sent.load(), i + 1);
  }
  finished.recv();
}

TEST(Chan, BufferedIsFifoAndBoundedByCap) {
  auto c = make_chan<int>(3);
  EXPECT_EQ(c.cap(), 3u);
  EXPECT_TRUE(c.try_send(1));
  EXPECT_TRUE(c.try_send(2));
  EXPECT_TRUE(c.try_send(3));
  EXPECT_FALSE(c.try_send(4));
  EXPECT_EQ(c.len(), 3u);
  EXPECT_EQ(c.recv(), 1);
  EXPECT_TRUE(c.try_send(5));
  EXPECT_EQ(c.recv(), 2);
  EXPECT_EQ(c.recv(), 3);
  EXPECT_EQ(c.recv(), 5);
  EXPECT_EQ(c.len(), 0u);
}

TEST(Chan, BufferedSenderBlocksWhenFull) {
  // With capacity C, after the receiver took k values the sender has
  // completed at most k + C + 1 sends.
  const std::size_t cap = 4;
  auto c = make_chan<int>(cap);
  auto finished = make_chan<Unit>(1);  // the sender must not outlive `sent`
  std::atomic<int> sent{0};
  const int n = 5000;
  stray::go([c, finished, &sent]() mutable {
    for (int i = 0; i < n; i++) {
      c.send(i);
      sent.fetch_add(1);
    }
    finished.send({});
  });
  for (int i = 0; i < n; i++) {
    EXPECT_EQ(c.recv(), i);
    EXPECT_LE(sent.load(), i + 1 + int(cap) + 1);
  }
  finished.recv();
}

TEST(Chan, CloseLetsReceiversDrainThenReturnsNullopt) {
  auto c = make_chan<int>(4);
  c.send(1);
  c.send(2);
  c.close();
  EXPECT_EQ(c.len(), 2u);
  EXPECT_EQ(c.recv(), 1);
  EXPECT_EQ(c.recv(), 2);
  EXPECT_EQ(c.recv(), std::nullopt);
  EXPECT_EQ(c.recv(), std::nullopt);
  bool closed = false;
  EXPECT_EQ(c.try_recv(&closed), std::nullopt);
  EXPECT_TRUE(closed);
}

TEST(Chan, TryRecvTellsEmptyFromClosed) {
  auto c = make_chan<int>(1);
  bool closed = true;
  EXPECT_EQ(c.try_recv(&closed), std::nullopt);
  EXPECT_FALSE(closed);
  c.send(7);
  EXPECT_EQ(c.try_recv(&closed), 7);
  EXPECT_FALSE(closed);
}

TEST(Chan, CloseWakesEveryBlockedReceiver) {
  auto c = make_chan<int>();
  auto results = make_chan<bool>(100);
  const int n = 100;
  int before = stray::rt::count_goroutines(stray::rt::Gstatus::waiting, WaitReason::chan_receive);
  for (int i = 0; i < n; i++) stray::go([c, results]() mutable { results.send(c.recv().has_value()); });
  wait_until_waiting(before + n, WaitReason::chan_receive);
  c.close();
  for (int i = 0; i < n; i++) EXPECT_EQ(results.recv(), false);
}

TEST(Chan, CloseMakesBlockedSendersPanic) {
  auto c = make_chan<int>();
  auto results = make_chan<std::string>(10);
  const int n = 10;
  int before = stray::rt::count_goroutines(stray::rt::Gstatus::waiting, WaitReason::chan_send);
  for (int i = 0; i < n; i++) {
    stray::go([c, results]() mutable {
      try {
        c.send(1);
        results.send("sent");
      } catch (const stray::panic& p) {
        results.send(p.what());
      }
    });
  }
  wait_until_waiting(before + n, WaitReason::chan_send);
  c.close();
  for (int i = 0; i < n; i++) EXPECT_EQ(results.recv(), "send on closed channel");
}

TEST(Chan, MisusePanicsWithGosMessages) {
  auto c = make_chan<int>(1);
  c.close();
  expect_panic([&] { c.send(1); }, "send on closed channel");
  expect_panic([&] { c.try_send(1); }, "send on closed channel");
  expect_panic([&] { c.close(); }, "close of closed channel");
  Chan<int> nil;
  expect_panic([&] { nil.close(); }, "close of nil channel");
  static_assert(std::is_base_of_v<std::logic_error, stray::panic>);
}

TEST(Chan, MakechanRejectsAnImpossibleSize) {
  expect_panic([] { make_chan<long>(SIZE_MAX / 2); }, "makechan: size out of range");
}

TEST(Chan, NilChannelBlocksForever) {
  stray::test::leaves_goroutines("two goroutines parked on a nil channel: nothing can wake them");
  Chan<int> nil;
  EXPECT_FALSE(nil);
  EXPECT_FALSE(nil.try_send(1));
  EXPECT_EQ(nil.try_recv(), std::nullopt);
  EXPECT_EQ(nil.len(), 0u);
  EXPECT_EQ(nil.cap(), 0u);
  int s0 = stray::rt::count_goroutines(stray::rt::Gstatus::waiting, WaitReason::chan_send_nil);
  int r0 = stray::rt::count_goroutines(stray::rt::Gstatus::waiting, WaitReason::chan_receive_nil);
  stray::go([nil]() mutable { nil.send(1); });
  stray::go([nil]() mutable { nil.recv(); });
  wait_until_waiting(s0 + 1, WaitReason::chan_send_nil);
  wait_until_waiting(r0 + 1, WaitReason::chan_receive_nil);
  // They stay parked: nothing can wake them (the leak detector's first cases).
  for (int i = 0; i < 100; i++) stray::yield();
  EXPECT_EQ(stray::rt::count_goroutines(stray::rt::Gstatus::waiting, WaitReason::chan_send_nil), s0 + 1);
  EXPECT_EQ(stray::rt::count_goroutines(stray::rt::Gstatus::waiting, WaitReason::chan_receive_nil), r0 + 1);
}

TEST(Chan, CopiesShareOneChannel) {
  auto a = make_chan<int>(1);
  Chan<int> b = a;
  EXPECT_TRUE(a == b);
  EXPECT_FALSE(a == make_chan<int>(1));
  a.send(3);
  EXPECT_EQ(b.len(), 1u);
  EXPECT_EQ(b.recv(), 3);
  Chan<int> moved = std::move(b);
  EXPECT_FALSE(b);
  EXPECT_TRUE(moved == a);
}

TEST(Chan, MoveOnlyValues) {
  auto buffered = make_chan<std::unique_ptr<int>>(2);
  buffered.send(std::make_unique<int>(1));
  buffered.send(std::make_unique<int>(2));
  EXPECT_EQ(**buffered.recv(), 1);
  EXPECT_EQ(**buffered.recv(), 2);

  auto unbuffered = make_chan<std::unique_ptr<int>>();
  stray::go([unbuffered]() mutable {
    for (int i = 0; i < 100; i++) unbuffered.send(std::make_unique<int>(i));
    unbuffered.close();
  });
  int want = 0;
  for (auto& p : unbuffered) EXPECT_EQ(*std::move(p), want++);
  EXPECT_EQ(want, 100);
}

struct Counted {
  static inline std::atomic<int> live{0};
  int v;
  explicit Counted(int x) : v(x) { live++; }
  Counted(Counted&& o) noexcept : v(o.v) { live++; }
  Counted(const Counted&) = delete;
  ~Counted() { live--; }
};

TEST(Chan, BufferedValuesAreDestroyedWithTheChannel) {
  {
    auto c = make_chan<Counted>(8);
    for (int i = 0; i < 5; i++) c.send(Counted(i));
    EXPECT_EQ(Counted::live.load(), 5);
    EXPECT_EQ(c.recv()->v, 0);
    EXPECT_EQ(Counted::live.load(), 4);
  }
  EXPECT_EQ(Counted::live.load(), 0);
}

TEST(Chan, RangeEndsWhenClosedAndDrained) {
  auto c = make_chan<int>(10);
  for (int i = 0; i < 10; i++) c.send(i);
  c.close();
  int sum = 0, n = 0;
  for (int v : c) sum += v, n++;
  EXPECT_EQ(n, 10);
  EXPECT_EQ(sum, 45);
}

TEST(Chan, PlainThreadsBlockWithTheSameSemantics) {
  // A plain std::thread and the main thread exchange values over an
  // unbuffered channel, with goroutines in between.
  auto to_goroutine = make_chan<int>();
  auto to_main = make_chan<int>();
  stray::go([=]() mutable {
    for (int v : to_goroutine) to_main.send(v * 2);
    to_main.close();
  });
  std::thread producer([to_goroutine]() mutable {
    EXPECT_EQ(stray::goroutine_id(), 0u);
    for (int i = 0; i < 1000; i++) to_goroutine.send(i);
    to_goroutine.close();
  });
  int n = 0;
  for (int v : to_main) EXPECT_EQ(v, 2 * n++);
  EXPECT_EQ(n, 1000);
  producer.join();

  // Thread to thread, no goroutine involved.
  auto direct = make_chan<int>();
  std::thread t([direct]() mutable { direct.send(42); });
  EXPECT_EQ(direct.recv(), 42);
  t.join();
}

// Many producers x many consumers: every value received exactly once.
class ChanStress : public stray::test::ProcsTest {};

TEST_P(ChanStress, EveryValueExactlyOnce) {
  for (std::size_t cap : {std::size_t(0), std::size_t(1), std::size_t(64)}) {
    const int producers = 8, consumers = 8, per = 2000;
    auto c = make_chan<int>(cap);
    auto sums = make_chan<std::vector<int>>(consumers);
    Latch produced(producers);
    for (int p = 0; p < producers; p++) {
      stray::go([c, &produced, p]() mutable {
        for (int i = 0; i < per; i++) c.send(p * per + i);
        produced.done();
      });
    }
    for (int k = 0; k < consumers; k++) {
      stray::go([c, sums]() mutable {
        std::vector<int> got;
        for (int v : c) got.push_back(v);
        sums.send(std::move(got));
      });
    }
    produced.wait();
    c.close();
    std::vector<int> seen(producers * per, 0);
    for (int k = 0; k < consumers; k++) {
      std::optional<std::vector<int>> got = sums.recv();
      for (int v : *got) seen[v]++;
    }
    for (int v = 0; v < producers * per; v++) ASSERT_EQ(seen[v], 1) << "value " << v << " cap " << cap;
  }
}
STRAY_PROCS_SWEEP(ChanStress);
