// traceback.cc — see traceback.h.
#include "runtime/traceback.h"

#include <dlfcn.h>
#include <link.h>

#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include <cstdint>
#include <cstring>

#include "runtime/mem.h"

namespace stray::rt {
namespace {

#define STRAY_STR2(x) #x
#define STRAY_STR(x) STRAY_STR2(x)

struct Unwind {
  int (*init_local)(unw_cursor_t*, unw_context_t*);
  int (*step)(unw_cursor_t*);
  int (*get_reg)(unw_cursor_t*, unw_regnum_t, unw_word_t*);
  int (*get_save_loc)(unw_cursor_t*, int, unw_save_loc_t*);
};
Unwind uw;
bool loaded = false;

// Registers the writable segments of the object containing `sym` as runtime
// memory: libunwind keeps stack addresses it validated in its .bss, which,
// scanned as a root, would make every unwound goroutine look reachable.
void register_data_of(void* sym) {
  Dl_info info;
  link_map* lm = nullptr;
  if (!dladdr1(sym, &info, reinterpret_cast<void**>(&lm), RTLD_DL_LINKMAP) || !lm) return;
  struct Ctx {
    uintptr_t base;
  } ctx{uintptr_t(lm->l_addr)};
  dl_iterate_phdr(
      [](dl_phdr_info* pi, size_t, void* arg) {
        auto* c = static_cast<Ctx*>(arg);
        if (pi->dlpi_addr != c->base) return 0;
        for (int i = 0; i < pi->dlpi_phnum; i++) {
          const ElfW(Phdr)& ph = pi->dlpi_phdr[i];
          if (ph.p_type != PT_LOAD || !(ph.p_flags & PF_W)) continue;
          uintptr_t lo = (c->base + ph.p_vaddr) & ~uintptr_t(4095);
          uintptr_t hi = (c->base + ph.p_vaddr + ph.p_memsz + 4095) & ~uintptr_t(4095);
          register_runtime_mapping(reinterpret_cast<void*>(lo), hi - lo);
        }
        return 1;
      },
      &ctx);
}

bool load() {
  // Only if nobody else in the process uses it is its data ours alone.
  bool private_copy = dlopen("libunwind.so.8", RTLD_NOW | RTLD_NOLOAD) == nullptr;
  void* h = dlopen("libunwind.so.8", RTLD_NOW | RTLD_LOCAL);
  if (!h) return false;
  uw.init_local = reinterpret_cast<decltype(uw.init_local)>(dlsym(h, STRAY_STR(unw_init_local)));
  uw.step = reinterpret_cast<decltype(uw.step)>(dlsym(h, STRAY_STR(unw_step)));
  uw.get_reg = reinterpret_cast<decltype(uw.get_reg)>(dlsym(h, STRAY_STR(unw_get_reg)));
  uw.get_save_loc = reinterpret_cast<decltype(uw.get_save_loc)>(dlsym(h, STRAY_STR(unw_get_save_loc)));
  auto set_policy = reinterpret_cast<int (*)(unw_addr_space_t, unw_caching_policy_t)>(
      dlsym(h, STRAY_STR(unw_set_caching_policy)));
  auto* space = static_cast<unw_addr_space_t*>(dlsym(h, STRAY_STR(unw_local_addr_space)));
  if (!uw.init_local || !uw.step || !uw.get_reg || !uw.get_save_loc || !set_policy || !space) return false;
  // The global cache is guarded by a lock a stopped thread could hold; the
  // per-thread cache is not, and makes a walk ~10x faster. Its thread-local
  // storage is allocated on the first walk of each thread: traceback_init
  // runs a walk before every pass (warm_up), never while stopped.
  set_policy(*space, UNW_CACHE_PER_THREAD);
  if (private_copy) register_data_of(reinterpret_cast<void*>(uw.step));
  return true;
}

// ---- replaying parked walks ----
//
// Goroutines parked at the same place through the same calls have stacks
// of the same shape, and libunwind takes microseconds over each (it
// validates the memory it reads with system calls). So a walk of one is
// kept, and another stack whose walk must come out the same takes its
// frames after a check. What a walk reads: the return address of each
// frame, from a slot at CFA - 8, and the registers a CFA rule computes
// from — in compiled code the stack and frame pointers, or a slot the
// frame pointer leads to (a realigned frame's DRAP). Every value among
// those is a stack address, except the return addresses. The walk is kept
// as
// * the parked context's depth below the stack's top;
// * for every frame and every register the unwinder carries into the
//   next (the return address and the callee-saved registers), where the
//   value came from — a slot at a given depth, or the parked context —
//   and, if it is a return address or an address in the stack, what it
//   was (the address as a depth);
// * every word of the live stack that held an address in the stack, as
//   depths.
// A stack with the same depth, the same return addresses in the same
// places and the same stack addresses (as depths) in the same places runs
// through the same CFA rules from the same inputs: its walk is the kept
// one's. Registers holding other values (data a function keeps in a
// callee-saved register) may differ: a rule computing the CFA from one
// would put it outside the stack, and a walk reading a return address
// outside the stack or the context is not kept. Nor is a walk that ended
// where a step failed (another stack's memory might let it go on): only
// one that reached the context's first frame or its limit.

#if defined(__x86_64__)
constexpr int kCarried[] = {UNW_REG_IP, UNW_X86_64_RBX, UNW_X86_64_RBP, UNW_X86_64_R12,
                            UNW_X86_64_R13, UNW_X86_64_R14, UNW_X86_64_R15};
#elif defined(__aarch64__)
constexpr int kCarried[] = {UNW_REG_IP, UNW_AARCH64_X19, UNW_AARCH64_X20, UNW_AARCH64_X21, UNW_AARCH64_X22,
                            UNW_AARCH64_X23, UNW_AARCH64_X24, UNW_AARCH64_X25, UNW_AARCH64_X26, UNW_AARCH64_X27,
                            UNW_AARCH64_X28, UNW_AARCH64_X29, UNW_AARCH64_X30};
#endif
constexpr int kNCarried = int(sizeof kCarried / sizeof kCarried[0]);
constexpr int kMaxShapes = 8;
constexpr int kMaxStackRefs = 128;  // stack addresses a kept stack may hold

// Where a frame's register came from and, if it matters, what it held.
struct Slot {
  static constexpr int64_t kNone = INT64_MIN;  // undefined in this frame
  int64_t at;       // > 0: that many bytes below the stack's top; < 0: -1 - its offset in the context
  uintptr_t value;  // the return address, or a stack address's depth
  uint8_t kind;     // kAny, kExact (a return address), kDepth (a stack address)
};
constexpr uint8_t kAny = 0, kExact = 1, kDepth = 2;

struct Shape {
  uintptr_t depth;  // of the parked context below the stack's top
  int n, max;       // frames; the limit the walk had
  int nrefs;
  uintptr_t pcs[kMaxFrames];
  Slot slots[kMaxFrames][kNCarried];
  uint32_t ref_at[kMaxStackRefs];  // depths of the live stack's words that held stack addresses...
  uint32_t ref_to[kMaxStackRefs];  // ... and the depths they held
};

}  // namespace

struct ParkedWalks {
  int n;
  Shape shapes[kMaxShapes];
};

ParkedWalks* parked_walks_new(Scratch& s) { return s.alloc<ParkedWalks>(1); }

namespace {

// A parked stack [lo, hi), its live part from sp, and the unwind context
// made from it.
struct StackCtx {
  uintptr_t lo, sp, hi;
  const unw_context_t* ctx;

  uintptr_t ctx_lo() const { return reinterpret_cast<uintptr_t>(ctx); }
  bool in_stack(uintptr_t v) const { return v >= lo && v <= hi; }
  // Any word of a parked stack, redzones of its frames included: not for
  // the sanitizers to check (the world is stopped).
  __attribute__((no_sanitize("address", "thread"))) static uintptr_t word(uintptr_t a) {
    return *reinterpret_cast<const uintptr_t*>(a);
  }
};

// Records the carried registers of the cursor's frame; false if a location
// is neither in the stack nor in the context.
bool record(unw_cursor_t* cur, const StackCtx& sc, Slot* out) {
  for (int i = 0; i < kNCarried; i++) {
    unw_save_loc_t sl;
    if (uw.get_save_loc(cur, kCarried[i], &sl) < 0) return false;
    if (sl.type == UNW_SLT_NONE) {
      out[i].at = Slot::kNone;
      continue;
    }
    if (sl.type != UNW_SLT_MEMORY) return false;
    uintptr_t a = sl.u.addr;
    if (a >= sc.sp && a + 8 <= sc.hi)
      out[i].at = int64_t(sc.hi - a);
    else if (a >= sc.ctx_lo() && a + 8 <= sc.ctx_lo() + sizeof *sc.ctx)
      out[i].at = -1 - int64_t(a - sc.ctx_lo());
    else
      return false;
    uintptr_t v = sc.word(a);
    out[i].kind = kCarried[i] == UNW_REG_IP ? kExact : sc.in_stack(v) ? kDepth : kAny;
    out[i].value = out[i].kind == kDepth ? sc.hi - v : v;
  }
  return true;
}

// Records the live stack's stack addresses; false if there are too many.
bool record_refs(const StackCtx& sc, Shape* s) {
  s->nrefs = 0;
  for (uintptr_t a = sc.sp; a + 8 <= sc.hi; a += 8) {
    uintptr_t v = sc.word(a);
    if (!sc.in_stack(v)) continue;
    if (s->nrefs == kMaxStackRefs) return false;
    s->ref_at[s->nrefs] = uint32_t(sc.hi - a);
    s->ref_to[s->nrefs++] = uint32_t(sc.hi - v);
  }
  return true;
}

// The kept walk's frames if the stack matches it (see above); -1 if not.
int replay(const Shape& s, const StackCtx& sc, uintptr_t* pcs, int max) {
  if (max > s.max || s.depth > sc.hi - sc.lo) return -1;
  for (int i = 0; i < s.nrefs; i++)
    if (sc.word(sc.hi - s.ref_at[i]) != sc.hi - s.ref_to[i]) return -1;
  for (int k = 0; k < s.n; k++)
    for (int i = 0; i < kNCarried; i++) {
      const Slot& sl = s.slots[k][i];
      if (sl.at == Slot::kNone || sl.kind == kAny) continue;
      uintptr_t v = sc.word(sl.at > 0 ? sc.hi - uintptr_t(sl.at) : sc.ctx_lo() + uintptr_t(-1 - sl.at));
      if (v != (sl.kind == kDepth ? sc.hi - sl.value : sl.value)) return -1;
    }
  int n = s.n < max ? s.n : max;
  memcpy(pcs, s.pcs, sizeof(uintptr_t) * std::size_t(n));
  return n;
}

// Walks from uc; with keep (sc then names the stack), records the walk
// there and sets *kept if it may be replayed (see above).
int walk(const ucontext_t* uc, uintptr_t* pcs, int max, const StackCtx* sc = nullptr, Shape* keep = nullptr,
         bool* kept = nullptr) {
  if (!loaded || max <= 0) return 0;
  // libunwind's context is a ucontext_t (x86-64) or a trimmed copy of its
  // leading part (AArch64).
  unw_context_t ctx;
  static_assert(sizeof ctx <= sizeof *uc);
  memcpy(&ctx, uc, sizeof ctx);
  unw_cursor_t cur;
  if (uw.init_local(&cur, &ctx) < 0) return 0;
  StackCtx here = sc ? StackCtx{sc->lo, sc->sp, sc->hi, &ctx} : StackCtx{};
  if (keep && !record_refs(here, keep)) keep = nullptr;
  int n = 0;
  bool at_base = false;
  const uintptr_t base = ctx_base_return();
  do {
    unw_word_t ip = 0;
    if (uw.get_reg(&cur, UNW_REG_IP, &ip) < 0 || ip == 0) break;
    if (keep && !record(&cur, here, keep->slots[n])) keep = nullptr;
    pcs[n++] = uintptr_t(ip);
    if ((at_base = ip == base)) break;  // a context's first frame (switch.h)
  } while (n < max && uw.step(&cur) > 0);
  if (keep && (at_base || n == max)) {
    keep->n = n;
    keep->max = max;
    memcpy(keep->pcs, pcs, sizeof(uintptr_t) * std::size_t(n));
    *kept = true;
  }
  return n;
}

struct LoaderCall {
  FnRef<void()> fn;
  bool done;
};

int loader_cb(dl_phdr_info*, size_t, void* data) {
  auto* c = static_cast<LoaderCall*>(data);
  if (!c->done) {
    c->done = true;
    c->fn();
  }
  return 1;  // stop iterating
}

}  // namespace

// Walks the calling thread's own stack: allocates libunwind's per-thread
// cache while allocating is still allowed.
[[gnu::noinline]] void warm_up() {
  ucontext_t uc;
  if (getcontext(&uc) != 0) return;
  uintptr_t pcs[4];
  walk(&uc, pcs, 4);
}

bool traceback_init() {
  static const bool ok = load();
  loaded = ok;
  if (ok) warm_up();
  return ok;
}

int traceback_parked(const Context& ctx, uintptr_t* pcs, int max, ParkedWalks* walks) {
  if (!ctx.fctx) return 0;
  ucontext_t uc;
  arch::unwind_context_parked(ctx.fctx, &uc);
  auto lo = reinterpret_cast<uintptr_t>(ctx.stack_bottom);
  if (!walks || !lo || max > kMaxFrames) return walk(&uc, pcs, max);
  // The context as walk() copies it: the slots' offsets are into that.
  unw_context_t uctx;
  memcpy(&uctx, &uc, sizeof uctx);
  StackCtx sc{lo, reinterpret_cast<uintptr_t>(ctx.fctx), lo + ctx.stack_size, &uctx};
  uintptr_t depth = sc.hi - sc.sp;
  for (int i = 0; i < walks->n; i++) {
    if (walks->shapes[i].depth != depth) continue;
    int n = replay(walks->shapes[i], sc, pcs, max);
    if (n >= 0) return n;
  }
  if (walks->n == kMaxShapes) return walk(&uc, pcs, max);
  Shape& s = walks->shapes[walks->n];
  s.depth = depth;
  bool kept = false;
  int n = walk(&uc, pcs, max, &sc, &s, &kept);
  walks->n += kept;
  return n;
}

int traceback_regs(const arch::Regs& regs, uintptr_t* pcs, int max) {
  ucontext_t uc;
  arch::unwind_context(regs, &uc);
  return walk(&uc, pcs, max);
}

void with_loader_lock(FnRef<void()> fn) {
  LoaderCall c{fn, false};
  dl_iterate_phdr(loader_cb, &c);
  if (!c.done) fn();  // no objects at all: cannot happen, but never skip fn
}

// ---- printing ----

namespace {

bool starts_with(const std::string& s, const char* p) { return s.rfind(p, 0) == 0; }

// True if the function's qualified name begins with ns, also after the
// return type that demangled template functions carry ("int stray::…",
// "std::optional<int> stray::…").
bool in_namespace(const std::string& fn, const char* ns) {
  if (starts_with(fn, ns)) return true;
  int depth = 0;
  for (std::size_t i = 0; i < fn.size(); i++) {
    char c = fn[i];
    if (c == '<') depth++;
    else if (c == '>') depth--;
    else if (c == '(' && depth == 0 && fn.compare(i, 21, "(anonymous namespace)") != 0) return false;
    else if (c == ' ' && depth == 0 && fn.compare(i + 1, strlen(ns), ns) == 0) return true;
  }
  return false;
}

bool internal_frame(const Frame& f) {
  return in_namespace(f.function, "stray::") || starts_with(f.function, "jump_fcontext") ||
         starts_with(f.function, "make_fcontext") || starts_with(f.function, "ontop_fcontext");
}

// Below the goroutine's own function: stray's closure runner and the
// std::apply machinery it calls through (inlined), Boost's start frame.
bool startup_frame(const Frame& f) {
  if (internal_frame(f) || f.function == "??") return true;
  for (const char* s : {"std::apply<", "std::__apply_impl<", "std::__invoke<", "std::__invoke_impl<"})
    if (f.function.find(s) != std::string::npos) return true;
  return false;
}

}  // namespace

// (symbolize() caches by pc: many goroutines share their pcs.)
std::vector<Frame> user_frames(const uintptr_t* pcs, int n, bool pc0_exact, const char* after) {
  std::vector<Frame> all;
  for (int i = 0; i < n; i++)
    for (Frame& f : symbolize(pcs[i], !(i == 0 && pc0_exact))) all.push_back(std::move(f));
  std::size_t b = 0, e = all.size();
  if (after)
    for (std::size_t i = 0; i < e; i++)
      if (all[i].function == after) b = i + 1;
  while (b < e && internal_frame(all[b])) b++;
  while (e > b && startup_frame(all[e - 1])) e--;
  if (b == e) return all;  // nothing of the user's: show everything
  return std::vector<Frame>(all.begin() + long(b), all.begin() + long(e));
}

std::string stack_text(const uintptr_t* pcs, int n, bool pc0_exact, bool elided, const char* after) {
  std::string out;
  for (const Frame& f : user_frames(pcs, n, pc0_exact, after)) out += format_frame(f);
  if (elided) out += "...additional frames elided...\n";
  return out;
}

}  // namespace stray::rt
