// stray/context.h — cancellation, deadlines and request-scoped values
// (Go: package context).
//
//   auto [ctx, cancel] = stray::with_timeout(stray::background(), 100ms);
//   stray::select(stray::recv_case(ctx.done(), [&] { /* ctx.err() says why */ }),
//                 stray::recv_case(results, ...));
//   cancel();  // always call it when done: frees the context's resources now
//
// Semantics (Go's):
// * done() is closed when the context is cancelled: by its cancel function,
//   its deadline, or its parent's cancellation. background().done() is the
//   nil channel (never ready).
// * err() is empty until done() is closed, then context_canceled or
//   context_deadline_exceeded (std::error_code, category "stray",
//   messages "context canceled" / "context deadline exceeded").
// * Cancelling a context cancels all its descendants, in time linear in
//   their number. Cancel functions are idempotent and thread-safe.
// * A derived context that is dropped (context and cancel function both
//   gone) without being cancelled unregisters from its parent: it costs
//   nothing afterwards (Go instead keeps it until the parent is cancelled).
// * with_deadline(parent, t) with a parent whose deadline is earlier is just
//   with_cancel(parent); a deadline already past cancels at once.
// * Extremes saturate (stray/time.h): with_timeout(parent, d) has the
//   deadline now + d clamped to [time_point::min(), time_point::max()], for
//   any std::chrono duration (hours::max(), ±infinity, …); with_deadline
//   takes a time_point of Clock in any unit, clamped the same way. A deadline
//   of time_point::max() — with_deadline(time_point::max()), or a timeout too
//   long for the clock — is "never": the context ends only by its cancel
//   function or its parent, and deadline() reports time_point::max(). Under a
//   parent with a deadline it is just with_cancel(parent) (the parent's is
//   earlier). A deadline at or before now (time_point::min(), a timeout <= 0,
//   down to hours::min() or -infinity) cancels at once with
//   context_deadline_exceeded. A NaN timeout throws stray::panic("NaN
//   duration").
// * Values: with_value(ctx, key, v) where key is a ContextKey<T> object (its
//   address is the key, as Go's unexported key types); ctx.value(key) finds
//   the nearest such value up the chain (nullptr if none).
// Contexts are immutable, cheap to copy handles (a shared_ptr).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <system_error>
#include <utility>

#include "stray/chan.h"
#include "stray/time.h"

// The public API: exported from libstray.so, whose other symbols are hidden.
#pragma GCC visibility push(default)

namespace stray {

enum class ContextErr { canceled = 1, deadline_exceeded = 2 };
const std::error_category& context_category() noexcept;
inline std::error_code make_error_code(ContextErr e) noexcept {
  return {static_cast<int>(e), context_category()};
}
inline const std::error_code context_canceled = make_error_code(ContextErr::canceled);
inline const std::error_code context_deadline_exceeded = make_error_code(ContextErr::deadline_exceeded);

// A key for with_value / Context::value; compare by address. Declare one
// per purpose: `static stray::ContextKey<std::string> request_id;`
template <class T>
struct ContextKey {};

namespace detail {
struct ContextNode;
}

class Context {
 public:
  Context();  // background()

  Chan<Unit> done() const;
  std::error_code err() const;
  std::optional<time_point> deadline() const;

  template <class T>
  const T* value(const ContextKey<T>& key) const {
    return static_cast<const T*>(lookup(&key));
  }

 private:
  friend struct detail::ContextNode;
  friend Context with_value_impl(const Context&, const void*, std::shared_ptr<const void>);
  friend std::pair<Context, std::function<void()>> with_cancel(const Context&);
  friend std::pair<Context, std::function<void()>> with_deadline(const Context&, time_point);
  explicit Context(std::shared_ptr<detail::ContextNode> n) : n_(std::move(n)) {}
  const void* lookup(const void* key) const;

  std::shared_ptr<detail::ContextNode> n_;
};

using CancelFunc = std::function<void()>;

// Go: context.Background. The root: never cancelled, no deadline, no values.
Context background();

// Go: context.WithCancel / WithDeadline / WithTimeout.
std::pair<Context, CancelFunc> with_cancel(const Context& parent);
std::pair<Context, CancelFunc> with_deadline(const Context& parent, time_point d);
std::pair<Context, CancelFunc> with_timeout(const Context& parent, duration d);
template <class Dur>
std::pair<Context, CancelFunc> with_deadline(const Context& parent, std::chrono::time_point<Clock, Dur> d) {
  return with_deadline(parent, detail::saturate(d));
}
template <class Rep, class Period>
std::pair<Context, CancelFunc> with_timeout(const Context& parent, std::chrono::duration<Rep, Period> d) {
  return with_timeout(parent, detail::saturate(d));
}

// Go: context.WithValue.
Context with_value_impl(const Context& parent, const void* key, std::shared_ptr<const void> v);
template <class T, class V>
Context with_value(const Context& parent, const ContextKey<T>& key, V&& v) {
  return with_value_impl(parent, &key, std::make_shared<const T>(std::forward<V>(v)));
}

}  // namespace stray

template <>
struct std::is_error_code_enum<stray::ContextErr> : std::true_type {};

#pragma GCC visibility pop
