// stray/chan.h — channels (Go: chan T, make, close, len, cap, for range).
//
// Chan<T> is a handle with shared ownership, like a Go channel value: copies
// refer to the same channel, which lives until the last handle is gone. A
// default-constructed Chan<T> is the nil channel. Operations are const: they
// act on the channel, not on the handle (so a lambda capturing a handle by
// value may use it without `mutable`).
//
// Semantics (exactly Go's):
// * Unbuffered (cap 0): a send completes only when a receiver takes the value
//   (rendezvous). Buffered: FIFO; send blocks while the buffer is full,
//   receive blocks while it is empty.
// * close(): receivers first drain the buffer, then every receive returns
//   std::nullopt at once; every blocked sender, and every later send, throws
//   stray::panic("send on closed channel"). Closing a closed channel throws
//   "close of closed channel"; closing a nil channel "close of nil channel".
// * Nil channel: send and receive block forever (wait reasons
//   "chan send (nil chan)" / "chan receive (nil chan)"); try_* return
//   false / nullopt.
// * Blocking calls park the calling goroutine; called from a plain thread they
//   block that thread, with the same semantics.
// * Memory ordering as in the Go memory model: a send happens before the
//   matching receive completes; a close happens before a receive that returns
//   because the channel is closed; the k-th receive on a channel of capacity C
//   happens before the (k+C)-th send completes.
// * T may be move-only. Values are moved in and out; a value sent to an
//   unbuffered channel moves straight from the sender to the receiver.
// * The channel object and its buffer live in the runtime's arena (not
//   malloc), where the leak detector understands them.
#pragma once

#include <cstddef>
#include <iterator>
#include <optional>
#include <utility>

#include "stray/detail/runtime.h"
#include "stray/panic.h"

// The public API: exported from libstray.so, whose other symbols are hidden.
#pragma GCC visibility push(default)

namespace stray {

// Go's struct{}: the element type of signal-only channels.
struct Unit {
  friend bool operator==(Unit, Unit) { return true; }
};

template <class T>
class Chan {
 public:
  using value_type = T;

  Chan() noexcept = default;  // the nil channel
  Chan(const Chan& o) noexcept : c_(o.c_) {
    if (c_) detail::chan_retain(c_);
  }
  Chan(Chan&& o) noexcept : c_(std::exchange(o.c_, nullptr)) {}
  Chan& operator=(Chan o) noexcept {
    std::swap(c_, o.c_);
    return *this;
  }
  ~Chan() {
    if (c_) detail::chan_release(c_);
  }

  // Blocks until the value is taken (unbuffered) or buffered.
  // Throws panic("send on closed channel").
  void send(T v) const {
    detail::chan_send(c_, &v, true);
    detail::keep_frame();
  }

  // Blocks until a value arrives; std::nullopt once closed and drained.
  std::optional<T> recv() const { return recv_impl(true).first; }

  // Go: select { case c <- v: return true; default: return false }.
  // On false the value is dropped with the by-value parameter.
  // Throws panic("send on closed channel") on a closed channel.
  bool try_send(T v) const { return detail::chan_send(c_, &v, false); }

  // Go: select { case v, ok := <-c: ...; default: }. std::nullopt when no
  // value is ready *or* the channel is closed and drained; use
  // try_recv_closed() or select to tell these apart.
  std::optional<T> try_recv() const { return recv_impl(false).first; }

  // Like try_recv; *closed is set to true when the channel is closed and
  // drained (Go's ok == false), false otherwise.
  std::optional<T> try_recv(bool* closed) const {
    auto [v, r] = recv_impl(false);
    if (closed) *closed = r.selected && !r.received;
    return std::move(v);
  }

  // Panics on a closed or nil channel. Wakes every blocked receiver and sender.
  void close() const { detail::chan_close(c_); }

  // Number of buffered values / the buffer's capacity (0 for nil).
  std::size_t len() const noexcept { return detail::chan_len(c_); }
  std::size_t cap() const noexcept { return detail::chan_cap(c_); }
  explicit operator bool() const noexcept { return c_ != nullptr; }

  friend bool operator==(const Chan& a, const Chan& b) noexcept { return a.c_ == b.c_; }

  // Range: `for (T v : ch)` receives until the channel is closed and drained
  // (Go: for v := range ch). Each element is the received value itself; for
  // a move-only T write `for (auto& v : ch)` and move from v.
  class iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = T;
    using difference_type = std::ptrdiff_t;
    using pointer = T*;
    using reference = T&;

    iterator() = default;
    explicit iterator(const Chan* ch) : ch_(ch) { ++*this; }
    T& operator*() { return *cur_; }
    T* operator->() { return &*cur_; }
    iterator& operator++() {
      cur_ = ch_->recv();
      if (!cur_) ch_ = nullptr;
      return *this;
    }
    void operator++(int) { ++*this; }
    friend bool operator==(const iterator& a, const iterator& b) { return a.ch_ == b.ch_; }

   private:
    const Chan* ch_ = nullptr;
    std::optional<T> cur_;
  };
  iterator begin() const { return iterator(this); }
  iterator end() const { return iterator(); }

  // For select and the runtime; not for general use.
  detail::hchan* raw() const noexcept { return c_; }

 private:
  template <class U>
  friend Chan<U> make_chan(std::size_t);
  explicit Chan(detail::hchan* c) noexcept : c_(c) {}

  std::pair<std::optional<T>, detail::RecvResult> recv_impl(bool block) const {
    alignas(T) unsigned char buf[sizeof(T)];
    detail::RecvResult r = detail::chan_recv(c_, buf, block);
    std::optional<T> out;
    if (r.received) {
      T* p = std::launder(reinterpret_cast<T*>(buf));
      out.emplace(std::move(*p));
      p->~T();
    }
    return {std::move(out), r};
  }

  detail::hchan* c_ = nullptr;
};

// Go: make(chan T, cap). cap 0 = unbuffered. Throws panic("makechan: size out
// of range") when cap * sizeof(T) does not fit the runtime arena.
template <class T>
Chan<T> make_chan(std::size_t cap = 0) {
  return Chan<T>(detail::chan_make(&detail::elem_ops_for<T>, cap));
}

}  // namespace stray

#pragma GCC visibility pop
