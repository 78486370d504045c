// heap.h — the attributed C++ heap: an index of live malloc allocations
// (Go has it for free: its heap is its own; here heap.cc interposes the
// allocation functions and keeps the index beside whatever allocator the
// program uses).
//
// The leak detector asks two questions of it, with the world stopped:
// which live allocation contains (or ends at) an address — a conservative
// scan reaching a heap object scans that object, nothing more — and which
// allocations lie in a root range, so that memory inside a live tracked
// allocation is not a root (roots.cc, mark.cc). Everything not in the
// index stays a root; see heap.cc for the invariant that makes this sound.
#pragma once

#include <cstddef>
#include <cstdint>

namespace stray::rt::heap {

// Whether allocations are being recorded (STRAY_HEAP_TRACKING=1, the
// default, the interposer linked and its index mapped). When false the
// index answers "nothing tracked" and the whole malloc heap is a root.
bool active();

struct Block {
  uintptr_t lo = 0, hi = 0;  // [lo, hi): the allocation's recorded extent
};

// The live allocation containing p (lo <= p < hi); false if none.
bool find(uintptr_t p, Block* out);

// The live allocation ending exactly at p (hi == p); false if none. A
// pointer one past the end of a block refers to it as much as any other
// (an end pointer, a stack top).
bool find_ending_at(uintptr_t p, Block* out);

// The first live allocation starting in [p, limit); false if none.
bool next_start(uintptr_t p, uintptr_t limit, Block* out);

// Where a block's mark bit lives, for the detector's per-leaf bitmaps:
// leaf number (< leaves()) and granule within the leaf.
constexpr std::size_t kGranule = 8;
constexpr std::size_t kLeafGranules = std::size_t(1) << 19;  // a leaf indexes 4 MiB
struct Slot {
  uint32_t leaf;
  uint32_t granule;
};
Slot slot_of(uintptr_t block_lo);
std::size_t leaves();

// Address range any tracked allocation lies in (empty when inactive): a
// word outside it is not a heap pointer.
uintptr_t lowest();
uintptr_t highest();

// Resident bytes of the index itself (the benchmark's "bytes per live
// allocation"); system calls only.
std::size_t index_resident_bytes();

}  // namespace stray::rt::heap
