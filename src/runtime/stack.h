// stack.h — goroutine stacks.
//
// Owns the stack region: one MAP_NORESERVE mapping (one VMA), from which
// stacks of power-of-two sizes ("slots") are carved. Pages are committed
// when first touched; a stack returned to the pool is handed back to the OS
// with MADV_DONTNEED, so pooled stacks cost no memory. The region's size
// follows the address space the process may use (mem.h: address_budget).
//
// Guard. The lowest stack_guard_bytes(size) of every slot are a guard
// region: any access faults, and fault.cc reports the fault as Go's
// "fatal error: stack overflow", naming the goroutine. Guards are installed
// with madvise(MADV_GUARD_INSTALL) (Linux 6.13+), which marks page table
// entries without splitting the VMA, so a million guarded stacks still
// take one mapping. Older kernels get mprotect(PROT_NONE) guards, one or two
// VMAs each, up to a cap well inside vm.max_map_count; stacks beyond the
// cap have no guard (stack_guard_mode() says which mode is active). A guard
// lives as long as its slot: it survives MADV_DONTNEED, and a slot is only
// ever reused for a stack of its own size.
//
// Canary. The lowest kCanaryBytes above the guard are never used and stay
// zero; the scheduler checks them at every switch. With a guard the canary
// is a second line of defence; without one (the mprotect cap) it is the
// only one, and it catches an overflow only at the goroutine's next switch.
//
// A frame larger than the guard can jump it. The package's usage
// requirements compile users' code with -fstack-clash-protection, which
// probes every page of a large frame or alloca from the top down, so the
// first probe past the stack lands in the guard (GCC and Clang probe at
// 4 KiB steps on x86-64, the smallest guard).
//
// Invariants: a stack is owned by exactly one G, or by the pool; the pool
// keeps free stacks per size class in a side table (never inside the stacks,
// which would commit their pages).
#pragma once

#include <cstddef>
#include <cstdint>

#include "runtime/mem.h"

namespace stray::rt {

constexpr std::size_t kStackMin = 16 << 10;
constexpr std::size_t kStackMax = std::size_t(1) << 30;
constexpr std::size_t kCanaryBytes = 256;

// The guard below a stack of `size` bytes (a power of two from stack_round):
// an eighth of it, from 4 KiB to 64 KiB. It is part of the slot, so a
// goroutine may use size - guard - kCanaryBytes bytes.
constexpr std::size_t stack_guard_bytes(std::size_t size) {
  std::size_t g = size / 8;
  return g < (4 << 10) ? (4 << 10) : g > (64 << 10) ? (64 << 10) : g;
}

struct Stack {
  char* base = nullptr;  // the slot's lowest address: its guard begins here
  char* lo = nullptr;    // lowest usable address (base + guard); the canary starts here
  char* hi = nullptr;    // one past the highest address; the stack grows down from here

  // The slot's size: what stack_round returned for it.
  std::size_t size() const { return std::size_t(hi - base); }
  // The bytes a goroutine may use (Go's "goroutine stack exceeds N-byte limit").
  std::size_t usable() const { return std::size_t(hi - lo) - kCanaryBytes; }
};

// How stacks are guarded: "madvise" (MADV_GUARD_INSTALL), "mprotect" (older
// kernels, capped), "mprotect, cap reached" (newer stacks unguarded).
const char* stack_guard_mode();

// The default stack size: STRAY_STACK_SIZE (bytes) or 256 KiB, rounded.
std::size_t stack_default_size();

// Rounds a requested size up to the power of two the pool hands out.
// Throws std::invalid_argument above kStackMax.
std::size_t stack_round(std::size_t size);

// A stack of exactly `size` bytes (a value returned by stack_round). Stops
// the program, naming what limits the region, when the region is full.
Stack stack_alloc(std::size_t size);

// Returns the stack's memory to the OS and the stack to the pool.
void stack_free(Stack s);

// The stack region's address range (all goroutine stacks lie inside).
// Maps the region on first use.
Range stack_region();

// Whether p lies in the stack region; false before the region is mapped
// (never maps it: usable from a signal handler).
bool in_stack_region(uintptr_t p);

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
