// context.cc — cancellation trees, deadlines and values (Go: context.go).
//
// A Context is a shared_ptr to an immutable-shape node: background, cancel
// (with_cancel / with_deadline) or value. A cancel node owns its done
// channel, its error and the set of its live cancelable descendants
// (children: the nearest cancel node below it on each path).
//
// Invariants:
// * err is empty until done is closed; both change once, under mu.
// * `children` holds weak references: a child that is dropped uncancelled
//   removes itself in its destructor (so it costs nothing afterwards); a
//   cancelled child removes itself from its parent at once.
// * Cancellation walks the subtree iteratively (a deep chain cannot
//   overflow a goroutine's stack) and never holds two nodes' locks at once.
// * A deadline node's time is saturated (rt::add_sat, detail::saturate):
//   time_point::max() means never; its timer goroutine then waits on a timer
//   that never fires (Go: a timer at maxWhen), until cancel or drop.
// Locks: a node's mu guards short bookkeeping only; nothing blocks while
// holding it. Its place in the lock order: lock.h.
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "stray/context.h"
#include "stray/go.h"
#include "stray/select.h"
#include "runtime/g.h"
#include "runtime/timers.h"

namespace stray {
namespace detail {

struct ContextNode {
  std::shared_ptr<ContextNode> parent;
  bool cancelable = false;
  ContextNode* registered_with = nullptr;  // the cancel ancestor listing us; fixed at creation
  std::optional<time_point> deadline;      // own or inherited
  Chan<Unit> stop_timer;                   // deadline nodes: closed when dropped

  std::mutex mu;
  Chan<Unit> done;     // nil for background
  std::error_code err;  // guarded by mu
  std::unordered_map<ContextNode*, std::weak_ptr<ContextNode>> children;  // guarded by mu

  const void* key = nullptr;  // value nodes
  std::shared_ptr<const void> value;

  ~ContextNode() {
    if (registered_with) {
      std::lock_guard<std::mutex> g(registered_with->mu);
      registered_with->children.erase(this);
    }
    if (stop_timer) stop_timer.close();
  }
};

}  // namespace detail

namespace {

using detail::ContextNode;
using NodePtr = std::shared_ptr<ContextNode>;

class ContextCategory : public std::error_category {
 public:
  const char* name() const noexcept override { return "stray"; }
  std::string message(int ev) const override {
    switch (static_cast<ContextErr>(ev)) {
      case ContextErr::canceled: return "context canceled";
      case ContextErr::deadline_exceeded: return "context deadline exceeded";
    }
    return "unknown context error";
  }
};

const NodePtr& background_node() {
  static const NodePtr n = std::make_shared<ContextNode>();
  return n;
}

ContextNode* nearest_cancelable(ContextNode* n) {
  while (n && !n->cancelable) n = n->parent.get();
  return n;
}

// Cancels n and every cancelable descendant with e, then takes n off its
// parent's list.
void cancel(const NodePtr& n, std::error_code e) {
  std::vector<NodePtr> work{n};
  while (!work.empty()) {
    NodePtr x = std::move(work.back());
    work.pop_back();
    std::lock_guard<std::mutex> g(x->mu);
    if (x->err) continue;
    x->err = e;
    x->done.close();
    for (auto& [raw, weak] : x->children)
      if (NodePtr c = weak.lock()) work.push_back(std::move(c));
    x->children.clear();
  }
  if (n->registered_with) {
    std::lock_guard<std::mutex> g(n->registered_with->mu);
    n->registered_with->children.erase(n.get());
  }
}

// A new cancel node under parent, registered with parent's nearest cancel
// ancestor (or cancelled at once if that one already is).
NodePtr new_cancel_node(const Context& parent_ctx, const NodePtr& parent) {
  auto n = std::make_shared<ContextNode>();
  n->parent = parent;
  n->cancelable = true;
  n->done = make_chan<Unit>();
  n->deadline = parent_ctx.deadline();
  ContextNode* anc = nearest_cancelable(parent.get());
  if (!anc) return n;
  std::error_code parent_err;
  {
    std::lock_guard<std::mutex> g(anc->mu);
    parent_err = anc->err;
    if (!parent_err) {
      anc->children.emplace(n.get(), n);
      n->registered_with = anc;
    }
  }
  if (parent_err) cancel(n, parent_err);
  return n;
}

CancelFunc cancel_func(const NodePtr& n) {
  return [n] { cancel(n, context_canceled); };
}

}  // namespace

const std::error_category& context_category() noexcept {
  static const ContextCategory c;
  return c;
}

Context::Context() : n_(background_node()) {}

Context background() { return Context(); }

Chan<Unit> Context::done() const {
  ContextNode* c = nearest_cancelable(n_.get());
  return c ? c->done : Chan<Unit>();
}

std::error_code Context::err() const {
  ContextNode* c = nearest_cancelable(n_.get());
  if (!c) return {};
  std::lock_guard<std::mutex> g(c->mu);
  return c->err;
}

std::optional<time_point> Context::deadline() const { return n_->deadline; }

const void* Context::lookup(const void* key) const {
  for (ContextNode* n = n_.get(); n; n = n->parent.get())
    if (n->key == key) return n->value.get();
  return nullptr;
}

std::pair<Context, CancelFunc> with_cancel(const Context& parent) {
  NodePtr n = new_cancel_node(parent, parent.n_);
  return {Context(n), cancel_func(n)};
}

std::pair<Context, CancelFunc> with_deadline(const Context& parent, time_point d) {
  if (auto pd = parent.deadline(); pd && *pd <= d) return with_cancel(parent);
  NodePtr n = new_cancel_node(parent, parent.n_);
  n->deadline = d;
  if (d <= Clock::now()) {
    cancel(n, context_deadline_exceeded);
  } else {
    // Go uses time.AfterFunc; here a goroutine waits for the deadline, for
    // cancellation, or for the context to be dropped, whichever comes first.
    n->stop_timer = make_chan<Unit>();
    std::weak_ptr<ContextNode> weak = n;
    rt::ServiceSpawn service;  // stray::testing does not blame the test for it
    go([weak, d, done = n->done, stop = n->stop_timer] {
      // d and now are both >= 0 here (d was later than now at creation;
      // steady_clock counts from boot), so d - now cannot overflow. For
      // d == time_point::max() the Timer's own now + (d - now) saturates to
      // "never"; a d passed meanwhile fires at once.
      Timer t(d - Clock::now());
      select(recv_case(t.c(),
                       [&] {
                         if (NodePtr x = weak.lock()) cancel(x, context_deadline_exceeded);
                       }),
             recv_case(done), recv_case(stop));
    });
  }
  return {Context(n), cancel_func(n)};
}

std::pair<Context, CancelFunc> with_timeout(const Context& parent, duration d) {
  return with_deadline(parent, rt::add_sat(Clock::now(), d));
}

Context with_value_impl(const Context& parent, const void* key, std::shared_ptr<const void> v) {
  auto n = std::make_shared<ContextNode>();
  n->parent = parent.n_;
  n->deadline = parent.deadline();
  n->key = key;
  n->value = std::move(v);
  return Context(n);
}

}  // namespace stray
