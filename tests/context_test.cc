// context_test — cancellation, deadlines and values (stray/context.h).
#include <chrono>
#include <limits>
#include <string>
#include <vector>

#include "test_util.h"
#include "stray/context.h"

using namespace std::chrono_literals;
using stray::Clock;
using stray::test::for_each_never;
using stray::Context;
using stray::rt::WaitReason;

namespace {
bool is_closed(const stray::Chan<stray::Unit>& c) {
  auto ch = c;
  bool closed = false;
  ch.try_recv(&closed);
  return closed;
}
}  // namespace

TEST(Context, BackgroundIsNeverDone) {
  Context bg = stray::background();
  EXPECT_FALSE(bg.done());  // the nil channel
  EXPECT_FALSE(bg.err());
  EXPECT_FALSE(bg.deadline());
  static stray::ContextKey<int> k;
  EXPECT_EQ(bg.value(k), nullptr);
}

TEST(Context, CancelClosesDoneAndSetsErr) {
  auto [ctx, cancel] = stray::with_cancel(stray::background());
  EXPECT_FALSE(is_closed(ctx.done()));
  EXPECT_FALSE(ctx.err());
  cancel();
  cancel();  // idempotent
  EXPECT_EQ(ctx.done().recv(), std::nullopt);
  EXPECT_EQ(ctx.err(), stray::context_canceled);
  EXPECT_EQ(ctx.err().message(), "context canceled");
  EXPECT_STREQ(ctx.err().category().name(), "stray");
}

TEST(Context, ParentCancelsDescendantsNotTheOtherWay) {
  static stray::ContextKey<std::string> k;
  auto [parent, cancel_parent] = stray::with_cancel(stray::background());
  auto [child, cancel_child] = stray::with_cancel(parent);
  Context valued = stray::with_value(child, k, "v");
  auto [grandchild, cancel_grandchild] = stray::with_cancel(valued);
  cancel_child();
  EXPECT_TRUE(is_closed(grandchild.done()));
  EXPECT_TRUE(is_closed(valued.done()));
  EXPECT_FALSE(is_closed(parent.done()));
  auto [child2, cancel_child2] = stray::with_cancel(parent);
  cancel_parent();
  EXPECT_EQ(child2.err(), stray::context_canceled);
  // A child of a cancelled context is born cancelled.
  auto [late, cancel_late] = stray::with_cancel(parent);
  EXPECT_TRUE(is_closed(late.done()));
  EXPECT_EQ(late.err(), stray::context_canceled);
}

TEST(Context, GoroutinesSeeCancellation) {
  auto [ctx, cancel] = stray::with_cancel(stray::background());
  stray::WaitGroup wg;
  for (int i = 0; i < 100; i++) wg.go([ctx = ctx] { ctx.done().recv(); });
  cancel();
  wg.wait();
}

TEST(Context, TimeoutExpires) {
  auto t0 = Clock::now();
  auto [ctx, cancel] = stray::with_timeout(stray::background(), 10ms);
  ASSERT_TRUE(ctx.deadline());
  EXPECT_GE(*ctx.deadline() - t0, 10ms);
  EXPECT_EQ(ctx.done().recv(), std::nullopt);
  EXPECT_GE(Clock::now() - t0, 10ms);
  EXPECT_EQ(ctx.err(), stray::context_deadline_exceeded);
  EXPECT_EQ(ctx.err().message(), "context deadline exceeded");
  cancel();  // after expiry: no effect
  EXPECT_EQ(ctx.err(), stray::context_deadline_exceeded);
}

TEST(Context, DeadlineRules) {
  auto [outer, c1] = stray::with_timeout(stray::background(), 1h);
  auto [inner, c2] = stray::with_timeout(outer, 2h);  // the parent's is earlier
  EXPECT_EQ(inner.deadline(), outer.deadline());
  auto [past, c3] = stray::with_deadline(stray::background(), Clock::now() - 1s);
  EXPECT_TRUE(is_closed(past.done()));
  EXPECT_EQ(past.err(), stray::context_deadline_exceeded);
  c1();
  EXPECT_EQ(inner.err(), stray::context_canceled);  // cancelled before its deadline
  stray::test::wait_no_goroutines();
}

TEST(Context, ValuesFindTheNearest) {
  static stray::ContextKey<std::string> user;
  static stray::ContextKey<int> attempt;
  Context a = stray::with_value(stray::background(), user, "alice");
  Context b = stray::with_value(a, attempt, 3);
  Context c = stray::with_value(b, user, "bob");
  EXPECT_EQ(*c.value(user), "bob");
  EXPECT_EQ(*c.value(attempt), 3);
  EXPECT_EQ(*b.value(user), "alice");
  EXPECT_EQ(a.value(attempt), nullptr);
}

TEST(Context, CancelATreeOfOneHundredThousand) {
  auto [root, cancel_root] = stray::with_cancel(stray::background());
  std::vector<Context> leaves;
  std::vector<stray::CancelFunc> cancels;
  for (int i = 0; i < 100; i++) {
    auto [mid, cm] = stray::with_cancel(root);
    cancels.push_back(cm);
    for (int k = 0; k < 1000; k++) {
      auto [leaf, cl] = stray::with_cancel(mid);
      leaves.push_back(leaf);
      cancels.push_back(cl);
    }
  }
  cancel_root();
  for (const Context& l : leaves) ASSERT_EQ(l.err(), stray::context_canceled);
}

TEST(Context, DroppedChildrenUnregister) {
  // 100k children created and dropped uncancelled, then the parent is
  // cancelled: nothing left to visit, nothing dangling (ASan checks).
  auto [root, cancel_root] = stray::with_cancel(stray::background());
  for (int i = 0; i < 100000; i++) {
    auto pair = stray::with_cancel(root);
    (void)pair;
  }
  for (int i = 0; i < 100; i++) {
    auto pair = stray::with_timeout(root, 1h);  // their timer goroutines end too
    (void)pair;
  }
  cancel_root();
  EXPECT_EQ(root.err(), stray::context_canceled);
  stray::test::wait_no_goroutines();
}

// --- Extremes: deadlines the clock cannot reach, or already passed ----------
//
// with_timeout(d) saturates now + d: a deadline past the clock's range is
// time_point::max(), "never", and a context with it is cancelled only by its
// cancel function or its parent (before the fix, now + d overflowed into the
// past and the context was born "deadline exceeded").

namespace {

using Doubles = std::chrono::duration<double>;
constexpr double kInf = std::numeric_limits<double>::infinity();

// Waits until ctx's deadline goroutine has parked in its select (it will
// never be woken by its timer) or ctx is done (before the fix), then lets
// a short timer fire: a deadline that was going to pass at once has.
void settle(const Context& ctx, int parked_before) {
  while (stray::test::waiting(WaitReason::select) <= parked_before && !is_closed(ctx.done())) stray::yield();
  stray::after(1ms).recv();
}

void expect_pending(const Context& ctx, const char* what) {
  EXPECT_FALSE(is_closed(ctx.done())) << what;
  EXPECT_FALSE(ctx.err()) << what << ": " << ctx.err().message();
}

}  // namespace

TEST(Context, DeadlineBeyondTheClockNeverExpires) {
  std::vector<std::pair<Context, stray::CancelFunc>> never;
  auto add = [&](auto make) {
    int before = stray::test::waiting(WaitReason::select);  // before its goroutine starts
    never.push_back(make());
    settle(never.back().first, before);
  };
  add([] { return stray::with_deadline(stray::background(), stray::time_point::max()); });
  add([] {
    return stray::with_deadline(stray::background(), std::chrono::time_point<Clock, std::chrono::hours>::max());
  });
  for_each_never([&](auto d) { add([d] { return stray::with_timeout(stray::background(), d); }); });
  for (std::size_t i = 0; i < never.size(); i++) {
    const Context& ctx = never[i].first;
    expect_pending(ctx, ("extreme #" + std::to_string(i)).c_str());
    EXPECT_EQ(ctx.deadline(), stray::time_point::max()) << "extreme #" << i;
  }
  for (auto& [ctx, cancel] : never) {
    cancel();
    EXPECT_EQ(ctx.err(), stray::context_canceled);
  }
}

TEST(Context, DeadlineBeyondTheClockInherits) {
  // A child asking for "never" under a parent with a deadline keeps the
  // parent's; a child of a "never" parent may set an earlier one of its own.
  // (No structured binding: clang 14 cannot capture one in a lambda.)
  auto parent_and_cancel = stray::with_timeout(stray::background(), 1h);
  Context parent = parent_and_cancel.first;
  stray::CancelFunc cancel_parent = parent_and_cancel.second;
  std::vector<std::pair<Context, stray::CancelFunc>> children;
  for_each_never([&](auto d) { children.push_back(stray::with_timeout(parent, d)); });
  children.push_back(stray::with_deadline(parent, stray::time_point::max()));
  for (std::size_t i = 0; i < children.size(); i++) {
    expect_pending(children[i].first, ("child #" + std::to_string(i)).c_str());
    EXPECT_EQ(children[i].first.deadline(), parent.deadline()) << "child #" << i;
  }

  auto [forever, cancel_forever] = stray::with_timeout(stray::background(), stray::duration::max());
  static stray::ContextKey<int> k;
  Context valued = stray::with_value(forever, k, 1);
  EXPECT_EQ(valued.deadline(), stray::time_point::max());
  auto [sooner, cancel_sooner] = stray::with_timeout(valued, 1h);
  EXPECT_LT(*sooner.deadline(), stray::time_point::max());
  auto [still_never, cancel_still_never] = stray::with_timeout(valued, std::chrono::hours::max());
  EXPECT_EQ(still_never.deadline(), stray::time_point::max());
  stray::after(1ms).recv();
  expect_pending(sooner, "sooner");
  expect_pending(still_never, "still_never");

  cancel_parent();
  for (auto& [c, cancel] : children) EXPECT_EQ(c.err(), stray::context_canceled);
  cancel_forever();
  EXPECT_EQ(sooner.err(), stray::context_canceled);
  EXPECT_EQ(still_never.err(), stray::context_canceled);
}

TEST(Context, DeadlineAtOrBeforeNowExpiresAtOnce) {
  auto expect_expired = [](const Context& ctx, const std::string& what) {
    EXPECT_TRUE(is_closed(ctx.done())) << what;
    EXPECT_EQ(ctx.err(), stray::context_deadline_exceeded) << what;
    ASSERT_TRUE(ctx.deadline()) << what;
    EXPECT_LE(*ctx.deadline(), Clock::now()) << what;
  };
  // now + d for a d the clock cannot hold is now + duration::min(), not a
  // conversion that wrapped around (before the fix, hours::min() became 0).
  auto expect_far_past = [](const Context& ctx, const std::string& what) {
    EXPECT_LE(ctx.deadline()->time_since_epoch(), Clock::now().time_since_epoch() + stray::duration::min())
        << what;
  };
  auto [at_min, c1] = stray::with_deadline(stray::background(), stray::time_point::min());
  expect_expired(at_min, "time_point::min()");
  EXPECT_EQ(at_min.deadline(), stray::time_point::min());
  auto [hours_min, c2] =
      stray::with_deadline(stray::background(), std::chrono::time_point<Clock, std::chrono::hours>::min());
  expect_expired(hours_min, "time_point<hours>::min()");
  EXPECT_EQ(hours_min.deadline(), stray::time_point::min());  // saturated, not wrapped

  auto [zero, c3] = stray::with_timeout(stray::background(), 0s);
  expect_expired(zero, "0s");
  auto [minus, c4] = stray::with_timeout(stray::background(), -1ns);
  expect_expired(minus, "-1ns");
  auto [dmin, c5] = stray::with_timeout(stray::background(), stray::duration::min());
  expect_expired(dmin, "duration::min()");
  auto [hmin, c6] = stray::with_timeout(stray::background(), std::chrono::hours::min());
  expect_expired(hmin, "hours::min()");
  expect_far_past(hmin, "hours::min()");
  auto [ninf, c7] = stray::with_timeout(stray::background(), Doubles(-kInf));
  expect_expired(ninf, "-inf");
  expect_far_past(ninf, "-inf");

  // Under a parent with a later deadline, the child's own (past) one wins.
  auto [parent, cancel_parent] = stray::with_timeout(stray::background(), 1h);
  auto [child, c8] = stray::with_timeout(parent, std::chrono::hours::min());
  expect_expired(child, "child hours::min()");
  EXPECT_FALSE(parent.err());

  stray::test::expect_panic(
      [] { stray::with_timeout(stray::background(), Doubles(std::numeric_limits<double>::quiet_NaN())); },
      "NaN duration");
  cancel_parent();
  stray::test::wait_no_goroutines();
}
