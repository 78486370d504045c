// select_test — select semantics, one test per rule of stray/select.h.
#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "test_util.h"

using stray::Chan;
using stray::default_case;
using stray::make_chan;
using stray::recv_case;
using stray::select;
using stray::send_case;
using stray::rt::WaitReason;
using stray::test::expect_panic;
using stray::test::Latch;
using stray::test::wait_until_waiting;

TEST(Select, DefaultRunsWhenNothingIsReady) {
  auto a = make_chan<int>();
  auto b = make_chan<int>(1);
  b.send(0);  // full: a send case cannot proceed
  bool def = false;
  int i = select(recv_case(a, [](std::optional<int>) { FAIL(); }),
                 send_case(b, 1, [] { FAIL(); }), default_case([&] { def = true; }));
  EXPECT_EQ(i, 2);
  EXPECT_TRUE(def);
  EXPECT_EQ(select(default_case([] {})), 0);
}

TEST(Select, ReadyCaseFiresAndOnlyIt) {
  auto a = make_chan<int>(1);
  auto b = make_chan<int>(1);
  b.send(5);
  int got = -1;
  int i = select(recv_case(a, [&](std::optional<int> v) { got = 100; }),
                 recv_case(b, [&](std::optional<int> v) { got = *v; }));
  EXPECT_EQ(i, 1);
  EXPECT_EQ(got, 5);
  EXPECT_EQ(a.len(), 0u);
  EXPECT_EQ(b.len(), 0u);
}

TEST(Select, ChoosesUniformlyAmongReadyCases) {
  auto a = make_chan<int>(1);
  auto b = make_chan<int>(1);
  int counts[2] = {0, 0};
  const int n = 20000;
  for (int k = 0; k < n; k++) {
    a.try_send(1);
    b.try_send(2);
    counts[select(recv_case(a), recv_case(b))]++;
  }
  // Each side has probability 1/2; below 40% is about 28 standard deviations
  // away, so this fails only for a biased choice.
  EXPECT_GT(counts[0], n * 4 / 10);
  EXPECT_GT(counts[1], n * 4 / 10);
}

TEST(Select, BlocksOnEveryChannelAndExactlyOneCaseFires) {
  auto a = make_chan<int>();
  auto b = make_chan<int>();
  auto fired = make_chan<int>(1);
  int before = stray::rt::count_goroutines(stray::rt::Gstatus::waiting, WaitReason::select);
  stray::go([=]() mutable {
    int i = select(recv_case(a, [](std::optional<int>) {}),
                   recv_case(b, [](std::optional<int> v) { EXPECT_EQ(v, 9); }));
    fired.send(i);
  });
  wait_until_waiting(before + 1, WaitReason::select);
  b.send(9);
  EXPECT_EQ(fired.recv(), 1);
  // The losing case left a's queue: nobody receives there any more.
  EXPECT_FALSE(a.try_send(1));
}

TEST(Select, SendCaseHandsToAWaitingReceiver) {
  auto c = make_chan<std::unique_ptr<int>>();
  auto got = make_chan<int>(1);
  stray::go([=]() mutable { got.send(**c.recv()); });
  bool sent = false;
  select(send_case(c, std::make_unique<int>(77), [&] { sent = true; }));
  EXPECT_TRUE(sent);
  EXPECT_EQ(got.recv(), 77);
}

TEST(Select, UnchosenSendCaseKeepsItsValue) {
  auto full = make_chan<std::shared_ptr<int>>(1);
  full.send(nullptr);
  auto v = std::make_shared<int>(1);
  select(send_case(full, v), default_case([] {}));
  EXPECT_EQ(v.use_count(), 1);  // the case's copy was destroyed, not leaked
}

TEST(Select, NilChannelCasesNeverFire) {
  Chan<int> nil;
  auto ready = make_chan<int>(1);
  ready.send(3);
  EXPECT_EQ(select(recv_case(nil), send_case(nil, 1), default_case([] {})), 2);
  EXPECT_EQ(select(recv_case(nil), recv_case(ready)), 1);
}

TEST(Select, ClosedChannelReceiveFiresWithNullopt) {
  auto c = make_chan<int>();
  c.close();
  bool closed = false;
  select(recv_case(c, [&](std::optional<int> v) { closed = !v; }));
  EXPECT_TRUE(closed);
}

TEST(Select, SendCaseOnClosedChannelPanics) {
  auto c = make_chan<int>(1);
  c.close();
  expect_panic([&] { select(send_case(c, 1), default_case([] {})); }, "send on closed channel");
}

TEST(Select, CloseWakesABlockedSelectAndPanicsItsSendCase) {
  auto c = make_chan<int>();
  auto result = make_chan<std::string>(1);
  int before = stray::rt::count_goroutines(stray::rt::Gstatus::waiting, WaitReason::select);
  stray::go([=]() mutable {
    try {
      select(send_case(c, 1), recv_case(make_chan<int>()));
      result.send("returned");
    } catch (const stray::panic& p) {
      result.send(p.what());
    }
  });
  wait_until_waiting(before + 1, WaitReason::select);
  c.close();
  EXPECT_EQ(result.recv(), "send on closed channel");
}

TEST(Select, NoCasesBlocksForever) {
  stray::test::leaves_goroutines("a goroutine in a select with no cases: nothing can wake it");
  int before = stray::rt::count_goroutines(stray::rt::Gstatus::waiting, WaitReason::select_no_cases);
  stray::go([] { select(); });
  wait_until_waiting(before + 1, WaitReason::select_no_cases);
  for (int i = 0; i < 100; i++) stray::yield();
  EXPECT_EQ(stray::rt::count_goroutines(stray::rt::Gstatus::waiting, WaitReason::select_no_cases),
            before + 1);
}

TEST(Select, WorksFromAPlainThread) {
  auto a = make_chan<int>();
  auto b = make_chan<int>();
  std::thread t([=]() mutable { b.send(4); });
  int got = 0;
  select(recv_case(a, [](std::optional<int>) {}), recv_case(b, [&](std::optional<int> v) { got = *v; }));
  EXPECT_EQ(got, 4);
  t.join();
}

TEST(Select, SameChannelInSeveralCases) {
  auto c = make_chan<int>(1);
  c.send(1);
  int i = select(recv_case(c), recv_case(c), send_case(c, 2));
  EXPECT_TRUE(i == 0 || i == 1);
  EXPECT_EQ(c.len(), 0u);
}

// Selects racing with each other and with plain operations: every value
// sent through any case is received exactly once, and no select fires twice.
class SelectStress : public stray::test::ProcsTest {};

TEST_P(SelectStress, EveryValueExactlyOnce) {
  for (std::size_t cap : {std::size_t(0), std::size_t(8)}) {
    const int senders = 6, receivers = 6, per = 1500;
    auto a = make_chan<int>(cap);
    auto b = make_chan<int>(cap);
    auto got = make_chan<std::vector<int>>(receivers);
    Latch sent(senders);
    for (int s = 0; s < senders; s++) {
      stray::go([=, &sent]() mutable {
        for (int i = 0; i < per; i++) {
          int v = s * per + i;
          select(send_case(a, v), send_case(b, v));
        }
        sent.done();
      });
    }
    auto stop = make_chan<stray::Unit>();
    for (int r = 0; r < receivers; r++) {
      stray::go([=]() mutable {
        std::vector<int> mine;
        bool done = false;
        while (!done) {
          select(recv_case(a, [&](std::optional<int> v) { mine.push_back(*v); }),
                 recv_case(b, [&](std::optional<int> v) { mine.push_back(*v); }),
                 recv_case(stop, [&] { done = true; }));
        }
        // Drain what is still buffered.
        while (auto v = a.try_recv()) mine.push_back(*v);
        while (auto v = b.try_recv()) mine.push_back(*v);
        got.send(std::move(mine));
      });
    }
    sent.wait();
    stop.close();
    std::vector<int> seen(senders * per, 0);
    for (int r = 0; r < receivers; r++) {
      std::optional<std::vector<int>> mine = got.recv();
      for (int v : *mine) seen[v]++;
    }
    for (int v = 0; v < senders * per; v++) ASSERT_EQ(seen[v], 1) << "value " << v << " cap " << cap;
  }
}
STRAY_PROCS_SWEEP(SelectStress);
