// jemalloc_test.cc — stray's heap interposer (src/runtime/heap.cc) on top
// of jemalloc, end to end. One program, built three ways (CMakeLists.txt):
//
//   static          libstray.a, then -ljemalloc: the executable's malloc is
//                   stray's; stray forwards to jemalloc (dlsym(RTLD_NEXT)).
//   shared          libstray.so, then -ljemalloc: libstray.so's malloc comes
//                   first in the lookup order; the same forwarding.
//   jemalloc_first  -ljemalloc, then libstray.so: jemalloc's malloc wins,
//                   stray's is never called, its index stays empty and the
//                   whole heap is a root (sound, imprecise).
//
// Checks, in order: (1) the lookup order is the one the build asked for;
// (2) malloc is bound to stray's interposer (static, shared) or to
// jemalloc's (jemalloc_first); (3) plain malloc reaches jemalloc: its
// stats.allocated grows by N*size after N mallocs, and malloc_usable_size
// answers with jemalloc's size classes; (4) heap attribution: goroutines
// whose channels only malloc'd boxes hold are reported leaked when the
// interposer is bound, none when it is not; a goroutine whose box a global
// holds is never reported (and is woken at the end: with
// STRAY_LEAK_ORACLE=1 a woken leaked goroutine aborts).
//
// What jemalloc changes for the pass:
// * Debian's libjemalloc exports operator new and delete, which allocate
//   inside jemalloc without calling malloc. libjemalloc comes before
//   libstdc++ in every link order here, so `new` bypasses stray: new'd
//   blocks are untracked, roots. Boxes made with `new` are checked apart:
//   none may be reported while operator new is jemalloc's.
// * jemalloc's extent metadata (untracked, a root) points at the first
//   region of every slab and at every large block: such a block always
//   looks reachable. Hence a warm-up block before the boxes, and "at least
//   kBoxes - 1" below.
// * The pass takes a pointer one past a block's end as a reference to it.
//   A request of exactly a size class ends where the next region starts,
//   so a pointer to a block also keeps its lower neighbour alive (and a
//   goroutine holding its own box keeps the box below it): Box is 40
//   bytes, in jemalloc's 48-byte class, to stay clear of that. Box64 is
//   made to meet it: a global holding only the address of the region
//   above a box (one past the box's end) keeps the box's goroutine alive —
//   the pass's fast path for pointers to a block's start must not lose
//   the block that ends there.
#include <dlfcn.h>
#include <jemalloc/jemalloc.h>
#include <link.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include <stray/stray.h>

#ifndef STRAY_EXPECT_INTERPOSED
#error "build with -DSTRAY_EXPECT_INTERPOSED=0 or 1 (CMakeLists.txt)"
#endif

namespace {

constexpr bool kInterposed = STRAY_EXPECT_INTERPOSED;
int failures = 0;

void check(bool ok, const std::string& what) {
  std::printf("%s: %s\n", ok ? "ok" : "FAIL", what.c_str());
  if (!ok) failures++;
}

// ---- (1), (2): who provides malloc ----

// Position in the link map (the lookup order) of the first object whose
// name contains `part`; -1 if none.
int link_position(const char* part) {
  struct Find {
    const char* part;
    int at = 0, found = -1;
  } f{part};
  dl_iterate_phdr(
      [](dl_phdr_info* info, std::size_t, void* data) {
        auto* f = static_cast<Find*>(data);
        if (f->found < 0 && info->dlpi_name && std::strstr(info->dlpi_name, f->part)) f->found = f->at;
        f->at++;
        return 0;
      },
      &f);
  return f.found;
}

Dl_info object_of(const void* p) {
  Dl_info info{};
  dladdr(p, &info);
  return info;
}

void check_binding() {
  int stray_at = link_position("libstray.so"), jemalloc_at = link_position("libjemalloc.so");
  check(jemalloc_at >= 0, "libjemalloc.so is loaded");
#ifdef STRAY_EXPECT_JEMALLOC_FIRST
  check(stray_at >= 0 && jemalloc_at < stray_at, "libjemalloc.so precedes libstray.so in the lookup order");
#elif defined(STRAY_EXPECT_SHARED)
  check(stray_at >= 0 && stray_at < jemalloc_at, "libstray.so precedes libjemalloc.so in the lookup order");
#else
  check(stray_at < 0, "stray is linked statically");
#endif

  void* bound = dlsym(RTLD_DEFAULT, "malloc");
  Dl_info malloc_obj = object_of(bound), stray_obj = object_of(reinterpret_cast<void*>(&stray::num_goroutine));
  std::printf("malloc is bound to %s; stray is in %s\n", malloc_obj.dli_fname, stray_obj.dli_fname);
  if (kInterposed) {
    check(malloc_obj.dli_fbase == stray_obj.dli_fbase, "malloc is stray's interposer");
  } else {
    check(std::strstr(malloc_obj.dli_fname, "libjemalloc") != nullptr, "malloc is jemalloc's");
    // libstray.so still defines one; it is never called.
    void* self = dlopen(stray_obj.dli_fname, RTLD_NOW | RTLD_NOLOAD);
    void* strays = self ? dlsym(self, "malloc") : nullptr;
    check(strays && strays != bound && object_of(strays).dli_fbase == stray_obj.dli_fbase,
          "libstray.so's malloc exists but is not the one bound");
    if (self) dlclose(self);
  }
}

// ---- (3): plain malloc reaches jemalloc ----

std::size_t jemalloc_allocated() {
  uint64_t epoch = 1;
  std::size_t len = sizeof epoch;
  mallctl("epoch", &epoch, &len, &epoch, len);  // refreshes the statistics
  std::size_t allocated = 0;
  len = sizeof allocated;
  if (mallctl("stats.allocated", &allocated, &len, nullptr, 0) != 0) return 0;
  return allocated;
}

// Called through a volatile pointer: the compiler may not pair and drop
// the calls.
void* (*volatile plain_malloc)(std::size_t) = std::malloc;
void (*volatile plain_free)(void*) = std::free;

void check_jemalloc_underneath() {
  const char* version = nullptr;
  std::size_t len = sizeof version;
  check(mallctl("version", &version, &len, nullptr, 0) == 0 && version, "mallctl(\"version\") answers");
  std::printf("jemalloc %s\n", version ? version : "?");

  // Large blocks (256 KiB, a size class; above the thread cache's limit) go
  // straight to jemalloc's arena and show in stats.allocated at once.
  constexpr int kN = 64;
  constexpr std::size_t kSize = 256 << 10;
  std::size_t before = jemalloc_allocated();
  std::vector<void*> blocks;
  for (int i = 0; i < kN; i++) {
    void* p = plain_malloc(kSize);
    std::memset(p, i, 64);
    blocks.push_back(p);
  }
  std::size_t after = jemalloc_allocated();
  for (void* p : blocks) plain_free(p);
  std::size_t freed = jemalloc_allocated();
  std::size_t want = kN * kSize;
  std::printf("stats.allocated: %zu before, %zu after %d mallocs of %zu bytes, %zu after the frees\n", before,
              after, kN, kSize, freed);
  // Other threads (stray's workers) may allocate or free meanwhile: allow 1 MiB.
  std::size_t grew = after > before ? after - before : 0;
  check(grew + (1 << 20) >= want && grew <= want + (1 << 20),
        "jemalloc's stats.allocated grows by N*size after N plain mallocs");
  check(freed + want / 2 < after, "and falls back after the frees");

  // jemalloc's size classes (glibc would answer 104, 1000 and 5000).
  const std::size_t requests[] = {100, 1000, 5000}, classes[] = {112, 1024, 5120};
  for (int i = 0; i < 3; i++) {
    void* p = plain_malloc(requests[i]);
    std::size_t usable = malloc_usable_size(p);
    plain_free(p);
    check(usable == classes[i], "malloc_usable_size(malloc(" + std::to_string(requests[i]) + ")) = " +
                                    std::to_string(usable) + ", jemalloc's class " + std::to_string(classes[i]));
  }
}

// ---- (4): heap attribution ----

// 40 bytes: jemalloc's 48-byte class, so no box ends where the next begins.
struct Box {
  stray::Chan<int> c;
  char pad[32];
};
static_assert(sizeof(Box) == 40);

constexpr int kBoxes = 8;
Box* held_by_global = nullptr;
void* warm_up = nullptr;

// Each goroutine's channel is held only by its box, which only its
// closure (on its own stack) points to.
[[gnu::noinline]] void leak_malloced_boxes() {
  warm_up = plain_malloc(sizeof(Box));  // a region before the boxes in their slab
  for (int i = 0; i < kBoxes; i++) {
    Box* box = ::new (plain_malloc(sizeof(Box))) Box{stray::make_chan<int>(), {}};
    stray::go([box] { box->c.recv(); });
  }
}

[[gnu::noinline]] void leak_newed_boxes() {
  for (int i = 0; i < kBoxes; i++) {
    Box* box = new Box{stray::make_chan<int>(), {}};
    stray::go([box] { box->c.recv(); });
  }
}

[[gnu::noinline]] void hold_box_in_global(stray::Chan<int> done) {
  held_by_global = ::new (plain_malloc(sizeof(Box))) Box{stray::make_chan<int>(), {}};
  stray::go([box = held_by_global, done] {
    box->c.recv();
    done.send(1);
  });
}

// 64 bytes: jemalloc's 64-byte class, whose regions follow each other.
struct Box64 {
  stray::Chan<int> c;
  char pad[56];
};
static_assert(sizeof(Box64) == 64);

char* end_pointer = nullptr;  // one past a Box64's end: the next region's start

// Two neighbouring 64-byte regions, lower not the first of its slab (a
// slab of this class is a page; jemalloc's metadata points at its first
// region); false if 256 tries found none.
bool neighbours(char** lower, char** upper) {
  void* spare[256];
  int n = 0;
  char* lo = static_cast<char*>(plain_malloc(sizeof(Box64)));
  *upper = nullptr;
  while (n < 256) {
    auto* next = static_cast<char*>(plain_malloc(sizeof(Box64)));
    if (next == lo + sizeof(Box64) && reinterpret_cast<uintptr_t>(lo) % 4096 != 0) {
      *lower = lo;
      *upper = next;
      break;
    }
    spare[n++] = lo;
    lo = next;
  }
  for (int i = 0; i < n; i++) plain_free(spare[i]);
  if (!*upper) plain_free(lo);
  return *upper != nullptr;
}

[[gnu::noinline]] void go_end_held(Box64* box, stray::Chan<int> done) {
  stray::go([box, done] {
    box->c.recv();
    done.send(1);
  });
}

[[gnu::noinline]] void go_unheld(Box64* box) {
  stray::go([box] { box->c.recv(); });
}

// A receiver whose channel only a Box64 holds, the Box64 held by nothing
// but the receiver's closure and, when hold_end, the global end_pointer:
// the address of the region above it (kept allocated in both cases:
// jemalloc's thread cache would keep the address of a freed one, one past
// the box's end). Made on the main thread, as leak_malloced_boxes: a
// worker thread that ran it may keep the addresses in its registers, a
// root. False if there were no neighbours.
[[gnu::noinline]] bool box_below(bool hold_end, stray::Chan<int> done) {
  char *lower, *upper;
  if (!neighbours(&lower, &upper)) return false;
  std::memset(upper, 0, sizeof(Box64));
  Box64* box = ::new (lower) Box64{stray::make_chan<int>(), {}};
  if (hold_end) {
    end_pointer = upper;
    go_end_held(box, done);
  } else {
    go_unheld(box);
  }
  return true;
}

[[gnu::noinline]] int blocked_in_recv() {
  int n = 0;
  for (const auto& g : stray::pprof::goroutines())
    if (g.state == "chan receive") n++;
  return n;
}

int created_by(const std::vector<stray::pprof::Goroutine>& leaks, const char* fn) {
  int n = 0;
  for (const auto& g : leaks)
    if (g.created_by.function.find(fn) != std::string::npos) n++;
  return n;
}

void check_attribution() {
  auto done = stray::make_chan<int>();
  leak_malloced_boxes();
  leak_newed_boxes();
  hold_box_in_global(done);
  bool end_made = box_below(true, done), unheld_made = box_below(false, done);
  check(end_made && unheld_made, "jemalloc hands out neighbouring 64-byte regions");
  for (int i = 0; blocked_in_recv() < 2 * kBoxes + 1 + end_made + unheld_made; i++) {
    if (i == 10000) {
      check(false, "the goroutines block");
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  auto leaks = stray::pprof::detect_leaks();
  int malloced = created_by(leaks, "leak_malloced_boxes"), newed = created_by(leaks, "leak_newed_boxes"),
      global = created_by(leaks, "hold_box_in_global");
  std::printf("leaked: %zu in all; %d of %d malloc'd boxes, %d of %d new'd boxes, %d global-held\n", leaks.size(),
              malloced, kBoxes, newed, kBoxes, global);
  int end_held = created_by(leaks, "go_end_held"), unheld = created_by(leaks, "go_unheld");
  check(int(leaks.size()) == malloced + newed + unheld, "nothing else is reported");
  check(global == 0, "a goroutine whose box a global holds is not reported");
  check(end_held == 0, "a goroutine whose box only an end pointer (the next region's start) holds is not reported");

  Dl_info new_obj = object_of(dlsym(RTLD_DEFAULT, "_Znwm"));
  bool new_is_jemallocs = std::strstr(new_obj.dli_fname, "libjemalloc") != nullptr;
  std::printf("operator new is bound to %s\n", new_obj.dli_fname);
  if (kInterposed) {
    check(malloced >= kBoxes - 1 && malloced <= kBoxes,
          "the malloc'd boxes' goroutines are reported (all but at most the first region of a slab)");
    if (new_is_jemallocs)
      check(newed == 0, "no new'd box is reported: jemalloc's operator new bypasses stray's malloc (untracked: a root)");
    else
      check(newed >= kBoxes - 1 && newed <= kBoxes, "the new'd boxes' goroutines are reported");
  } else {
    check(malloced == 0 && newed == 0, "no box is reported: the index is empty, the heap is a root");
  }
  check(unheld == (kInterposed ? 1 : 0), kInterposed ? "the same box with nothing above it held is reported"
                                                     : "the same box with nothing above it held is not reported");

  // The global-held goroutine was rightly live: wake it.
  held_by_global->c.send(1);
  check(*done.recv() == 1, "the global-held goroutine runs on");
  if (end_made) {
    auto* box = reinterpret_cast<Box64*>(end_pointer - sizeof(Box64));
    box->c.send(1);
    check(*done.recv() == 1, "the end-held goroutine runs on");
  }
}

}  // namespace

int main() {
  check_binding();
  check_jemalloc_underneath();
  check_attribution();
  std::printf("%d check(s) failed\n", failures);
  return failures == 0 ? 0 : 1;
}
