// stray/select.h — select over channel operations (Go: the select statement).
//
//   int i = stray::select(
//       stray::recv_case(in, [](std::optional<int> v) { ... }),  // v: nullopt = closed
//       stray::send_case(out, 42, [] { ... }),
//       stray::default_case([] { ... }));                         // optional
//
// Semantics (exactly Go's):
// * If one or more cases can proceed, one is chosen uniformly at random, its
//   operation is performed and its callback runs; the others do nothing.
// * Otherwise, with a default_case, the default callback runs at once;
//   without one, the caller parks on every channel at once until exactly one
//   case fires.
// * A case on a nil channel never fires. select() with no cases blocks
//   forever (wait reason "select (no cases)").
// * A receive case fires on a closed channel with std::nullopt; a send case
//   chosen on a closed channel throws panic("send on closed channel").
// * The callback runs after the operation completed and every channel lock
//   was released; it may use the channels again (or select again).
// Returns the position (0-based, in argument order) of the case that fired.
// The same channel may appear in several cases. At most one default_case.
#pragma once

#include <cstddef>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>

#include "stray/chan.h"

// The public API: exported from libstray.so, whose other symbols are hidden.
#pragma GCC visibility push(default)

namespace stray {

namespace detail {

struct NoCallback {};

template <class T, class F>
struct RecvCase {
  hchan* c;
  F f;
  alignas(T) unsigned char buf[sizeof(T)];

  SelectCase erase() { return {c, buf, false}; }
  void fire(bool received) {
    std::optional<T> v;
    if (received) {
      T* p = std::launder(reinterpret_cast<T*>(buf));
      v.emplace(std::move(*p));
      p->~T();
    }
    if constexpr (std::is_invocable_v<F&, std::optional<T>>) {
      f(std::move(v));
    } else if constexpr (std::is_invocable_v<F&>) {
      f();
    } else {
      static_assert(std::is_same_v<F, NoCallback>,
                    "recv_case callback must take std::optional<T> or nothing");
    }
  }
};

template <class T, class F>
struct SendCase {
  hchan* c;
  T v;
  F f;

  SelectCase erase() { return {c, &v, true}; }
  void fire(bool) {
    if constexpr (std::is_invocable_v<F&>) {
      f();
    } else {
      static_assert(std::is_same_v<F, NoCallback>, "send_case callback must take no arguments");
    }
  }
};

template <class F>
struct DefaultCase {
  F f;
  void fire(bool) { f(); }
};

template <class C>
inline constexpr bool is_default_case = false;
template <class F>
inline constexpr bool is_default_case<DefaultCase<F>> = true;

template <class... C, std::size_t... I>
int select_impl([[maybe_unused]] std::tuple<C&...> cs, std::index_sequence<I...>) {
  constexpr int ndefault = (0 + ... + (is_default_case<C> ? 1 : 0));
  static_assert(ndefault <= 1, "select: at most one default_case");
  constexpr int n = sizeof...(C) - ndefault;

  // pos[k] = argument position of channel case k.
  SelectCase erased[n > 0 ? n : 1] = {};
  int pos[n > 0 ? n : 1] = {};
  int defpos = -1;
  [[maybe_unused]] int k = 0;
  (
      [&]([[maybe_unused]] auto& c, int i) {
        if constexpr (is_default_case<std::decay_t<decltype(c)>>) {
          defpos = i;
        } else {
          erased[k] = c.erase();
          pos[k++] = i;
        }
      }(std::get<I>(cs), int(I)),
      ...);

  bool received = false;
  int chosen = selectgo(erased, n, ndefault == 0, &received);
  int fired = chosen < 0 ? defpos : pos[chosen];
  ((int(I) == fired ? (std::get<I>(cs).fire(received), 0) : 0), ...);
  return fired;
}

}  // namespace detail

// A receive case; f takes std::optional<T> (nullopt: closed) or nothing.
template <class T, class F = detail::NoCallback>
detail::RecvCase<T, std::decay_t<F>> recv_case(const Chan<T>& ch, F&& f = {}) {
  return {ch.raw(), std::forward<F>(f), {}};
}

// A send case; v is moved into the channel only if this case fires.
template <class T, class V, class F = detail::NoCallback>
detail::SendCase<T, std::decay_t<F>> send_case(const Chan<T>& ch, V&& v, F&& f = {}) {
  return {ch.raw(), T(std::forward<V>(v)), std::forward<F>(f)};
}

// Runs f when no other case is ready; makes the select non-blocking.
template <class F>
detail::DefaultCase<std::decay_t<F>> default_case(F&& f) {
  return {std::forward<F>(f)};
}

// Go's select statement; see the top of this file.
template <class... C>
int select(C&&... cases) {
  int fired = detail::select_impl(std::tuple<std::remove_reference_t<C>&...>(cases...),
                                  std::index_sequence_for<C...>{});
  detail::keep_frame();
  return fired;
}

}  // namespace stray

#pragma GCC visibility pop
