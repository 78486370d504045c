// fn_ref.h — FnRef<R(A...)>: a typed, non-owning reference to a callable
// (LLVM's function_ref). The pass's callbacks take one instead of a
// function pointer and a void*: the types say what flows where, and nothing
// allocates, so it is usable while the world is stopped.
//
// Invariant: an FnRef never outlives the callable it was made from; pass it
// down, never store it.
#pragma once

#include <memory>
#include <type_traits>
#include <utility>

namespace stray::rt {

template <class Sig>
class FnRef;

template <class R, class... A>
class FnRef<R(A...)> {
 public:
  template <class F, class = std::enable_if_t<!std::is_same_v<std::remove_cvref_t<F>, FnRef> &&
                                              std::is_invocable_r_v<R, F&, A...>>>
  FnRef(F&& f)  // NOLINT: implicit, like a function pointer
      : obj_(const_cast<void*>(static_cast<const void*>(std::addressof(f)))),
        call_([](void* o, A... a) -> R { return (*static_cast<std::remove_reference_t<F>*>(o))(std::forward<A>(a)...); }) {}

  R operator()(A... a) const { return call_(obj_, std::forward<A>(a)...); }

 private:
  void* obj_;
  R (*call_)(void*, A...);
};

}  // namespace stray::rt
