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

// A live allocation. leaf and granule say where its mark bit lives in the
// detector's per-leaf bitmaps: leaf < leaves(), granule < kLeafGranules.
constexpr std::size_t kLeafGranules = std::size_t(1) << 19;  // 4 MiB of 8-byte granules
struct Block {
  uintptr_t lo = 0, hi = 0;  // [lo, hi): the allocation's recorded extent
  uint32_t leaf = 0, granule = 0;
};
std::size_t leaves();

// The live allocation containing p (lo <= p < hi); false if none.
bool find(uintptr_t p, Block* out);

// The live allocations p refers to: the one containing it and the one
// ending exactly at it (a pointer one past the end of a block refers to it
// as much as any other: an end pointer, a stack top). Returns how many
// (0-2) it wrote to out.
int find_around(uintptr_t p, Block out[2]);

// The detector's fast path for the commonest pointer, to the start of a
// small object: one leaf of the index, looked up once for many pointers
// into the same 4 MiB, then one shadow byte per pointer (heap.cc has the
// encoding).
constexpr unsigned kLeafShift = 22;  // a leaf indexes 4 MiB
constexpr std::size_t kSmallBytes = 126 * 8;
constexpr uint8_t kStartByte = 0x80, kLargeByte = 0xFF;
struct LeafView {
  uintptr_t chunk = UINTPTR_MAX;     // p >> kLeafShift of the addresses it indexes (none yet)
  const uint8_t* shadow = nullptr;   // one byte per 8-byte granule
  uint32_t number = 0;               // as Block::leaf
};
// The leaf indexing p; false (and *out unchanged) if there is none.
bool view_leaf(uintptr_t p, LeafView* out);
// Whether a live allocation of at most kSmallBytes starts at p (8-aligned,
// in v's 4 MiB); its mark bit is granule (p >> 3) % kLeafGranules of leaf
// v.number.
inline bool small_starts_at(const LeafView& v, uintptr_t p) {
  uint8_t b = __atomic_load_n(&v.shadow[(p >> 3) & (kLeafGranules - 1)], __ATOMIC_RELAXED);
  return (b & kStartByte) && b != kLargeByte;
}

// Where address a's mark bit lives (as Block::leaf, Block::granule);
// false if no leaf indexes a.
bool locate(uintptr_t a, uint32_t* leaf, uint32_t* granule);

// The live allocations starting in [p, limit), in address order: writes
// up to max of them to out and returns how many (fewer than max: there
// are no more). A sweep over root memory calls it once per batch.
int starts_in(uintptr_t p, uintptr_t limit, Block* out, int max);

// Address range any tracked allocation lies in (empty when inactive): a
// word outside it is not a heap pointer.
uintptr_t lowest();
uintptr_t highest();

// Resident bytes of the index itself (the benchmark's "bytes per live
// allocation"); system calls only.
std::size_t index_resident_bytes();

}  // namespace stray::rt::heap
