// testing.cc — leak checks for tests (stray/testing.h; Go:
// go.uber.org/goleak, with the goroutineleak profile's verdict).
//
// Owns the options, the suppression lists, the retry loop, the report
// format, and the per-test accounts (rt::Account, runtime/g.h) that charge
// each goroutine to the test that made it.
//
// The check's two kinds, and why the loop is sound and not flaky:
// * A goroutine a pass proves leaked (pprof::detect_leaks) can never run
//   again (DESIGN.md §1), so waiting cannot change the verdict: it is
//   reported at once.
// * Any other goroutine may still finish. The loop looks again under the
//   retry policy and reports only those still there when the policy gives
//   up. Before each look it reads the test's live count (kept by the
//   runtime at spawn and exit): zero means nothing of this test is alive,
//   and the check passes without stopping the world — the common case.
//
// Accounts: a test's account is made at test_started, in runtime memory,
// and never freed (the runtime's goroutines may keep pointing at it: one
// small object per test).
// `mu` guards the current account and the suppression list; the runtime's
// spawn path reads the current account through rt::set_spawn_account,
// never through mu. Lock order: mu is a leaf (no runtime lock is taken
// under it; passes run without it held).
#include "stray/testing.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <tuple>

#include "leak/leak.h"
#include "runtime/arch.h"
#include "pprof/report.h"
#include "runtime/arena.h"
#include "stray/go.h"
#include "stray/time.h"

namespace stray::testing {

struct Option::Impl {
  enum Kind { top, any, created_by, current, wait, policy, proven, clean, on_failure };
  explicit Impl(Kind k, std::string n = {}) : kind(k), name(std::move(n)) {}
  Kind kind;
  std::string name;               // top, any, created_by
  std::set<uint64_t> ids;         // current: the goroutines alive then
  int baseline = 0;               // current: live count then (no pass possible)
  RetryPolicy retry;              // wait, policy
  std::function<void(int)> fn;    // clean
};

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::nanoseconds;

// ---- accounts ----

std::mutex mu;
rt::Account* current_test = nullptr;  // guarded by mu; null between tests
bool checking = false;                // guarded by mu: a TestChecker exists (or did)
bool unaccounted = false;             // guarded by mu: goroutines predate the first one
// Goroutines made between tests, once a TestChecker exists.
constinit rt::Account outside;

struct Scope {
  bool all = true;                      // no TestChecker ever: every goroutine
  bool in_test = false;                 // a TestChecker's test is running
  const rt::Account* account = nullptr;  // the test's, or &outside between tests
  bool unaccounted = false;             // between tests: goroutines older than
                                        // the first TestChecker (no account) too
};

Scope current_scope() {
  std::lock_guard<std::mutex> g(mu);
  if (!checking) return {};
  if (current_test) return {false, true, current_test, false};
  return {false, false, &outside, unaccounted};
}

bool in_scope(const Scope& s, const rt::Account* a) {
  if (a == rt::service_account()) return false;
  return s.all || a == s.account || (s.unaccounted && a == nullptr);
}

// Live goroutines of the scope, by the runtime's counts (no pass); those
// without an account are not counted.
int live_in(const Scope& s) { return s.all ? num_goroutine() : s.account->live.load(std::memory_order_relaxed); }

// ---- matching ----

// name is full's whole demangled name, or full without its parameter list.
bool function_is(const std::string& full, const std::string& name) {
  if (full == name) return true;
  return full.size() > name.size() && full.compare(0, name.size(), name) == 0 && full[name.size()] == '(';
}

// LeakSanitizer's suppression patterns: a substring match where '*' is any
// run of characters, '^' anchors at the start and '$' at the end.
bool glob_at(const char* p, const char* pe, const char* s, const char* se, bool anchored_end) {
  for (; p < pe; p++) {
    if (*p == '*') {
      for (const char* t = s;; t++) {
        if (glob_at(p + 1, pe, t, se, anchored_end)) return true;
        if (t == se) return false;
      }
    }
    if (s == se || *p != *s) return false;
    s++;
  }
  return !anchored_end || s == se;
}

bool pattern_matches(const std::string& pat, const std::string& text) {
  if (pat.empty() || text.empty()) return false;
  const char* p = pat.data();
  const char* pe = p + pat.size();
  bool start = *p == '^';
  if (start) p++;
  bool end = pe > p && pe[-1] == '$';
  if (end) pe--;
  const char* s = text.data();
  const char* se = s + text.size();
  if (start) return glob_at(p, pe, s, se, end);
  for (const char* t = s;; t++) {
    if (glob_at(p, pe, t, se, end)) return true;
    if (t == se) return false;
  }
}

// Suppressions, read once: STRAY_LEAK_SUPPRESSIONS's file, then the hook.
void add_patterns(std::istream& in, std::vector<std::string>& out) {
  std::string line;
  while (std::getline(in, line)) {
    auto b = line.find_first_not_of(" \t");
    if (b == std::string::npos || line[b] == '#') continue;
    auto e = line.find_last_not_of(" \t\r");
    line = line.substr(b, e - b + 1);
    if (line.rfind("leak:", 0) == 0) line.erase(0, 5);
    if (!line.empty()) out.push_back(line);
  }
}

const std::vector<std::string>& suppressions() {
  static const std::vector<std::string> list = [] {
    std::vector<std::string> out;
    if (const char* path = getenv("STRAY_LEAK_SUPPRESSIONS"); path && *path) {
      std::ifstream f(path);
      // A suppression file that cannot be read would silently unsuppress
      // everything it lists: say so loudly, once, and go on without it.
      if (!f) fprintf(stderr, "stray: cannot read STRAY_LEAK_SUPPRESSIONS file %s; no suppressions from it\n", path);
      add_patterns(f, out);
    }
    if (stray_leak_suppressions) {
      if (const char* text = stray_leak_suppressions()) {
        std::istringstream in(text);
        add_patterns(in, out);
      }
    }
    return out;
  }();
  return list;
}

bool suppressed(const Goroutine& g) {
  for (const std::string& pat : suppressions()) {
    for (const pprof::Frame& f : g.stack)
      if (pattern_matches(pat, f.function) || pattern_matches(pat, f.file)) return true;
    if (pattern_matches(pat, g.created_by.function) || pattern_matches(pat, g.created_by.file)) return true;
  }
  return false;
}

// ---- options ----

RetryPolicy doubling_until(nanoseconds bound) {
  return [bound](int attempt, nanoseconds waited) -> std::optional<nanoseconds> {
    if (waited >= bound) return std::nullopt;
    nanoseconds pause = std::chrono::microseconds(1) * (uint64_t(1) << std::min(attempt, 14));
    return std::min({pause, nanoseconds(std::chrono::milliseconds(10)), bound - waited});
  };
}

constexpr nanoseconds kDefaultWait = std::chrono::seconds(5);

struct Spec {
  std::vector<const Option::Impl*> ignores;  // top, any, created_by, current
  RetryPolicy retry = doubling_until(kDefaultWait);
  bool proven_only = false;
  bool run_on_failure = false;
  std::vector<std::function<void(int)>> cleanups;
  int baseline = 0;  // with ignore_current: what the count fallback waits for
};

Spec parse(const std::vector<Option>& options) {
  Spec s;
  for (const Option& o : options) {
    const Option::Impl& i = o.impl();
    switch (i.kind) {
      case Option::Impl::top:
      case Option::Impl::any:
      case Option::Impl::created_by:
        s.ignores.push_back(&i);
        break;
      case Option::Impl::current:
        s.ignores.push_back(&i);
        s.baseline = std::max(s.baseline, i.baseline);
        break;
      case Option::Impl::wait:
      case Option::Impl::policy:
        s.retry = i.retry;
        break;
      case Option::Impl::proven: s.proven_only = true; break;
      case Option::Impl::clean: s.cleanups.push_back(i.fn); break;
      case Option::Impl::on_failure: s.run_on_failure = true; break;
    }
  }
  return s;
}

bool ignored(const Spec& s, const Goroutine& g) {
  for (const Option::Impl* i : s.ignores) {
    switch (i->kind) {
      case Option::Impl::top:
        if (!g.stack.empty() && function_is(g.stack.front().function, i->name)) return true;
        break;
      case Option::Impl::any:
        if (function_is(g.created_by.function, i->name)) return true;
        for (const pprof::Frame& f : g.stack)
          if (function_is(f.function, i->name)) return true;
        break;
      case Option::Impl::created_by:
        if (function_is(g.created_by.function, i->name)) return true;
        break;
      case Option::Impl::current:
        if (i->ids.count(g.id)) return true;
        break;
      default: break;
    }
  }
  return suppressed(g);
}

Option make(Option::Impl impl) { return Option(std::make_shared<const Option::Impl>(std::move(impl))); }

// ---- the check ----

// One look: a pass, and the scope's goroutines that no option excludes,
// proven leaked first, each kind by id.
std::vector<Goroutine> look(const Spec& spec, const Scope& scope) {
  std::vector<Goroutine> out;
  for (rt::Charged& c : rt::charged_goroutines())
    if (in_scope(scope, c.account) && !ignored(spec, c.g)) out.push_back(std::move(c.g));
  std::stable_sort(out.begin(), out.end(), [](const Goroutine& a, const Goroutine& b) {
    return std::tie(b.leaked, a.id) < std::tie(a.leaked, b.id);
  });
  return out;
}

// When no pass can run: waits under the policy for the scope's live count
// to fall to the baseline (the check then passes), or throws why it
// cannot tell.
void wait_by_count(const Spec& spec, const Scope& scope, const std::string& why) {
  auto start = Clock::now();
  for (int attempt = 0;; attempt++) {
    int live = live_in(scope);
    if (live <= spec.baseline) return;
    auto waited = nanoseconds(Clock::now() - start);
    std::optional<nanoseconds> pause = spec.retry(attempt, waited);
    if (!pause) {
      std::ostringstream s;
      s << live - spec.baseline << " goroutine(s) " << (scope.in_test ? "of this test " : "made outside the tests ")
        << "still exist after " << std::chrono::duration<double>(waited).count() << " s, and there is no list: "
        << why;
      throw pprof::PassError(s.str());
    }
    stray::sleep(*pause);
  }
}

constexpr nanoseconds kSettle = std::chrono::milliseconds(100);

// Some goroutine is not blocked: it may still block (or end) soon.
bool settling(const std::vector<Goroutine>& gs) {
  return std::any_of(gs.begin(), gs.end(), [](const Goroutine& g) {
    return !g.leaked && (g.state == "runnable" || g.state == "running");
  });
}

[[gnu::noinline]] std::vector<Goroutine> find_spec(const Spec& spec) {
  Scope scope = current_scope();
  auto start = Clock::now();
  std::optional<Clock::time_point> proven_at;
  nanoseconds settle_pause = std::chrono::microseconds(1);
  for (int attempt = 0;; attempt++) {
    if (live_in(scope) == 0 && !scope.unaccounted) return {};  // nothing alive: no pass
    std::vector<Goroutine> found;
    try {
      found = look(spec, scope);
    } catch (const pprof::PassError& e) {
      if (scope.all) throw;
      wait_by_count(spec, scope, e.what());
      return {};
    }
    if (found.empty()) return found;
    if (found.front().leaked) {
      // Proven: waiting cannot change that, and the check fails now. Yet
      // goroutines of the scope that are runnable or running may be about
      // to block too (a test's goroutines just started): they get up to
      // kSettle, so that the report says what they became.
      auto now = Clock::now();
      if (!proven_at) proven_at = now;
      if (settling(found) && now - *proven_at < kSettle) {
        stray::sleep(std::min<nanoseconds>(settle_pause *= 2, kSettle));
        continue;
      }
      if (spec.proven_only) std::erase_if(found, [](const Goroutine& g) { return !g.leaked; });
      return found;
    }
    std::optional<nanoseconds> pause = spec.retry(attempt, nanoseconds(Clock::now() - start));
    if (!pause) return spec.proven_only ? std::vector<Goroutine>{} : found;
    stray::sleep(*pause);
  }
}

// In each public entry that runs passes: frames below its caller are the
// check's own, not roots (rt::PassEntry says why). The entries are
// noinline, so that the caller's frame is a frame of its own.
#define STRAY_CHECK_ENTRY() \
  rt::PassEntry pass_entry(reinterpret_cast<uintptr_t>(__builtin_frame_address(0)) + rt::arch::kFrameToCallerSp)

// ---- the report ----

std::string plural(std::size_t n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

std::string format_wait(nanoseconds d) {
  char buf[48];
  double s = std::chrono::duration<double>(d).count();
  if (s < 1e-3) snprintf(buf, sizeof buf, "%.0f µs", s * 1e6);
  else if (s < 1) snprintf(buf, sizeof buf, "%.0f ms", s * 1e3);
  else if (s < 60) snprintf(buf, sizeof buf, "%.1f s", s);
  else snprintf(buf, sizeof buf, "%.0f minutes", s / 60);
  return buf;
}

std::string site(const pprof::Frame& f) { return f.function + "\n\t" + f.file + ":" + std::to_string(f.line); }

}  // namespace

Option ignore_top_function(std::string name) { return make(Option::Impl(Option::Impl::top, std::move(name))); }
Option ignore_any_function(std::string name) { return make(Option::Impl(Option::Impl::any, std::move(name))); }
Option ignore_created_by(std::string name) { return make(Option::Impl(Option::Impl::created_by, std::move(name))); }

Option ignore_current() {
  Option::Impl i(Option::Impl::current);
  Scope scope = current_scope();
  i.baseline = live_in(scope);
  try {
    for (const rt::Charged& c : rt::charged_goroutines()) i.ids.insert(c.g.id);
  } catch (const pprof::PassError&) {
    // No list (no passes in this build): find() cannot run a pass either
    // and falls back to counts, for which the baseline is kept.
  }
  return make(std::move(i));
}

Option max_wait(std::chrono::nanoseconds d) {
  Option::Impl i(Option::Impl::wait);
  i.retry = doubling_until(std::max(d, nanoseconds(0)));
  return make(std::move(i));
}

Option retry(RetryPolicy policy) {
  if (!policy) throw std::invalid_argument("stray::testing::retry: empty policy");
  Option::Impl i(Option::Impl::policy);
  i.retry = std::move(policy);
  return make(std::move(i));
}

Option proven_only() { return make(Option::Impl(Option::Impl::proven)); }

Option cleanup(std::function<void(int)> fn) {
  if (!fn) throw std::invalid_argument("stray::testing::cleanup: empty function");
  Option::Impl i(Option::Impl::clean);
  i.fn = std::move(fn);
  return make(std::move(i));
}

Option run_on_failure() { return make(Option::Impl(Option::Impl::on_failure)); }

[[gnu::noinline]] std::vector<Goroutine> find_with(const std::vector<Option>& options) {
  STRAY_CHECK_ENTRY();
  Spec spec = parse(options);
  if (!spec.cleanups.empty())
    throw std::invalid_argument("stray::testing::find: cleanup() is for verify_none and the test listener");
  return find_spec(spec);
}

[[gnu::noinline]] void verify_none_with(const std::vector<Option>& options) {
  STRAY_CHECK_ENTRY();
  Spec spec = parse(options);
  std::vector<Goroutine> found;
  try {
    found = find_spec(spec);
  } catch (...) {
    for (auto& fn : spec.cleanups) fn(1);
    throw;
  }
  for (auto& fn : spec.cleanups) fn(found.empty() ? 0 : 1);
  if (found.empty()) return;
  std::string report = format_report(found);  // before found is moved from
  throw LeakError(report, std::move(found));
}

std::string format_report(const std::vector<Goroutine>& gs) {
  if (gs.empty()) return {};
  // One block per (leaked, state, wait site, creation site, Mutex holder),
  // in first-seen order, then most goroutines first.
  using Key = std::tuple<bool, std::string, std::string, int, std::string, std::string, int, uint64_t>;
  std::map<Key, std::vector<const Goroutine*>> groups;
  std::vector<Key> order;
  for (const Goroutine& g : gs) {
    pprof::Frame top = g.stack.empty() ? pprof::Frame{} : g.stack.front();
    Key k{!g.leaked,           g.state,           top.function,          top.line, g.created_by.function,
          g.created_by.file,   g.created_by.line, g.lock_holder};
    auto [it, fresh] = groups.try_emplace(k);
    if (fresh) order.push_back(k);
    it->second.push_back(&g);
  }
  std::stable_sort(order.begin(), order.end(), [&](const Key& a, const Key& b) {
    return std::get<0>(a) != std::get<0>(b) ? std::get<0>(a) < std::get<0>(b) : groups[a].size() > groups[b].size();
  });
  std::ostringstream out;
  std::size_t running = 0;
  for (const Key& k : order) {
    const std::vector<const Goroutine*>& members = groups[k];
    const Goroutine& first = *members.front();
    nanoseconds longest{0};
    for (const Goroutine* g : members) longest = std::max(longest, g->waiting);
    if (!first.leaked) running += members.size();
    std::string state = first.state + (first.leaked ? " (leaked)" : "");
    if (longest > nanoseconds(0)) state += ", waiting for " + format_wait(longest);
    if (first.lock_holder) state += "; the Mutex is held by goroutine " + std::to_string(first.lock_holder);
    if (members.size() == 1) {
      out << "goroutine " << first.id << " [" << state << "]";
    } else {
      out << members.size() << " goroutines [" << state << "] (ids ";
      for (std::size_t i = 0; i < members.size() && i < 10; i++) out << (i ? ", " : "") << members[i]->id;
      out << (members.size() > 10 ? ", ...)" : ")");
    }
    out << (first.leaked ? ":\n" : " (still running):\n");
    if (first.stack.empty()) out << "(no frames)\n";
    for (const pprof::Frame& f : first.stack) out << site(f) << "\n";
    if (!first.created_by.function.empty()) {
      out << "created by " << first.created_by.function;
      if (first.parent_id) out << " in goroutine " << first.parent_id;
      out << "\n\t" << first.created_by.file << ":" << first.created_by.line << "\n";
    }
    out << "\n";
  }
  out << "stray: " << plural(gs.size(), "leaked goroutine", "leaked goroutines") << " in "
      << plural(order.size(), "place", "places");
  if (running) out << " (" << running << " still running)";
  out << "\n";
  return out.str();
}

// ---- the per-test protocol ----

struct TestChecker::State {
  std::vector<Option> options;
  rt::Account* test = nullptr;  // the test begun last, until it ends
};

TestChecker::TestChecker(std::vector<Option> options) : state_(std::make_unique<State>()) {
  state_->options = std::move(options);
  std::lock_guard<std::mutex> g(mu);
  if (!checking) unaccounted = num_goroutine() > 0;
  checking = true;
  if (!current_test) rt::set_spawn_account(&outside);  // inside a test: that test's stays
}

TestChecker::~TestChecker() {
  if (state_->test) (void)test_finished(false);
}

void TestChecker::test_started(std::string_view name) {
  (void)name;  // for reports to come; the account alone tells tests apart
  if (state_->test) (void)test_finished(false);
  // Never freed: goroutines of the test may outlive it. Runtime memory, as
  // the Gs that point to it (LeakSanitizer does not take it for a leak).
  auto* a = rt::arena_new<rt::Account>();
  state_->test = a;
  std::lock_guard<std::mutex> g(mu);
  current_test = a;
  rt::set_spawn_account(a);
}

[[gnu::noinline]] std::string TestChecker::test_finished(bool check) {
  STRAY_CHECK_ENTRY();
  std::string report;
  if (check && state_->test) {
    Spec spec = parse(state_->options);
    try {
      report = format_report(find_spec(spec));
    } catch (const pprof::PassError& e) {
      report = std::string("stray: cannot check this test's goroutines: ") + e.what() + "\n";
    }
  }
  std::lock_guard<std::mutex> g(mu);
  current_test = nullptr;
  rt::set_spawn_account(&outside);
  state_->test = nullptr;
  return report;
}

[[gnu::noinline]] std::string TestChecker::program_finished(bool passed) {
  STRAY_CHECK_ENTRY();
  Spec spec = parse(state_->options);
  std::string report;
  if (passed || spec.run_on_failure) {
    try {
      report = format_report(find_spec(spec));
    } catch (const pprof::PassError& e) {
      report = std::string("stray: cannot check the program's goroutines: ") + e.what() + "\n";
    }
  }
  for (auto& fn : spec.cleanups) fn(passed && report.empty() ? 0 : 1);
  return report;
}

}  // namespace stray::testing
