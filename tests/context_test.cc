// context_test — cancellation, deadlines and values (stray/context.h).
#include <chrono>
#include <string>
#include <vector>

#include "test_util.h"
#include "stray/context.h"

using namespace std::chrono_literals;
using stray::Clock;
using stray::Context;

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
}
