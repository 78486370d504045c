// traceback.cc — see traceback.h.
#include "runtime/traceback.h"

#include <dlfcn.h>
#include <link.h>

#define UNW_LOCAL_ONLY
#include <libunwind.h>

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
  auto set_policy = reinterpret_cast<int (*)(unw_addr_space_t, unw_caching_policy_t)>(
      dlsym(h, STRAY_STR(unw_set_caching_policy)));
  auto* space = static_cast<unw_addr_space_t*>(dlsym(h, STRAY_STR(unw_local_addr_space)));
  if (!uw.init_local || !uw.step || !uw.get_reg || !set_policy || !space) return false;
  // The global cache is guarded by a lock a stopped thread could hold; the
  // per-thread cache is not, and makes a walk ~10x faster. Its thread-local
  // storage is allocated on the first walk of each thread: traceback_init
  // runs a walk before every pass (warm_up), never while stopped.
  set_policy(*space, UNW_CACHE_PER_THREAD);
  if (private_copy) register_data_of(reinterpret_cast<void*>(uw.step));
  return true;
}

int walk(const ucontext_t* uc, uintptr_t* pcs, int max) {
  if (!loaded || max <= 0) return 0;
  // libunwind's context is a ucontext_t (x86-64) or a trimmed copy of its
  // leading part (AArch64).
  unw_context_t ctx;
  static_assert(sizeof ctx <= sizeof *uc);
  memcpy(&ctx, uc, sizeof ctx);
  unw_cursor_t cur;
  if (uw.init_local(&cur, &ctx) < 0) return 0;
  int n = 0;
  do {
    unw_word_t ip = 0;
    if (uw.get_reg(&cur, UNW_REG_IP, &ip) < 0 || ip == 0) break;
    pcs[n++] = uintptr_t(ip);
  } while (n < max && uw.step(&cur) > 0);
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

int traceback_parked(const Context& ctx, uintptr_t* pcs, int max) {
  if (!ctx.fctx) return 0;
  ucontext_t uc;
  arch::unwind_context_parked(ctx.fctx, &uc);
  return walk(&uc, pcs, max);
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
