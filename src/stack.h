// stack.h — goroutine stacks.
//
// Owns the stack region: one MAP_NORESERVE mapping (one VMA: per-stack guard
// pages would need a VMA each and hit vm.max_map_count long before a million
// goroutines), from which stacks of power-of-two sizes are carved. Pages are
// committed when first touched; a stack returned to the pool is handed back
// to the OS with MADV_DONTNEED, so pooled stacks cost no memory.
//
// Canary: the lowest kCanaryBytes of every stack are never used and stay
// zero (untouched, they map the shared zero page: no memory). A goroutine
// that overflows its stack writes there; the scheduler checks the canary at
// every switch and stops the program naming the goroutine.
//
// Invariants: a stack is owned by exactly one G, or by the pool; the pool
// keeps free stacks per size class in a side table (never inside the stacks,
// which would commit their pages).
#pragma once

#include <cstddef>
#include <cstdint>

#include "mem.h"

namespace stray::rt {

struct Stack {
  char* lo = nullptr;  // lowest address; the canary starts here
  char* hi = nullptr;  // one past the highest address; the stack grows down from here

  std::size_t size() const { return std::size_t(hi - lo); }
};

constexpr std::size_t kStackMin = 16 << 10;
constexpr std::size_t kStackMax = std::size_t(1) << 30;
constexpr std::size_t kCanaryBytes = 256;

// The default stack size: STRAY_STACK_SIZE (bytes) or 256 KiB, rounded.
std::size_t stack_default_size();

// Rounds a requested size up to the power of two the pool hands out.
// Throws std::invalid_argument above kStackMax.
std::size_t stack_round(std::size_t size);

// A stack of exactly `size` bytes (a value returned by stack_round).
Stack stack_alloc(std::size_t size);

// Returns the stack's memory to the OS and the stack to the pool.
void stack_free(Stack s);

// The stack region's address range (all goroutine stacks lie inside).
Range stack_region();

// True while the canary zone at the stack's low end is untouched.
inline bool stack_canary_ok(const Stack& s) {
  // Four words, lowest to highest line of the zone; an overflow coming down
  // from above crosses the top one first. (A loop over all 32 words cost
  // ~14% of a ping-pong round trip: see bench/.)
  const auto* w = reinterpret_cast<const uint64_t*>(s.lo);
  constexpr std::size_t top = kCanaryBytes / sizeof(uint64_t) - 1;
  return (w[0] | w[8] | w[16] | w[top]) == 0;
}
}  // namespace stray::rt
