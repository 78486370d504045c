// report.cc — phase 5 of the leak pass and the profiles (Go:
// runtime/pprof's goroutine profiles, printCountProfile, and the goroutine
// dump format of traceback.go).
//
// Owns the text formats, which follow Go exactly with C++ names:
// * debug=1: "<name> profile: total N", then per distinct stack (most
//   frequent first) "count @ pc pc ..." with every return address, and one
//   "#\tpc\tfunction+0xoff\tfile:line" line per frame (inlined calls
//   expanded, pc a call site: return address minus 1; columns aligned with
//   tabs as Go's tabwriter does), then a blank line.
// * debug=2: per goroutine "goroutine N [state]:" (", M minutes" once it
//   waited a minute), "function\n\tfile:line +0xoff" per frame, then
//   "created by function in goroutine P\n\tfile:line +0xoff"; blocks are
//   separated by a blank line (none after the last, as runtime.Stack).
// Stacks show the user's frames only (traceback.h's one filter).
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <ostream>
#include <unordered_map>

#include "leak/leak.h"
#include "runtime/options.h"
#include "runtime/proc.h"
#include "pprof/proto.h"
#include "pprof/report.h"
#include "stray/go.h"
#include "stray/pprof.h"
#include "runtime/symbolize.h"
#include "runtime/traceback.h"

namespace stray::rt {
namespace {

// A record's frames worth showing (traceback.h).
std::vector<Frame> frames_of(const GRecord& r) { return user_frames(r.pcs, r.npcs, r.pc0_exact); }

// "running", "runnable" or the wait reason, without " (leaked)".
std::string state_of(const GRecord& r) {
  switch (r.status) {
    case Gstatus::running: return "running";
    case Gstatus::idle:
    case Gstatus::runnable: return "runnable";
    default: return wait_reason_string(r.reason);
  }
}

// How long a blocked goroutine has waited; 0 for the others.
int64_t waited_ns(const GRecord& r, int64_t now) {
  return r.status == Gstatus::waiting || r.status == Gstatus::leaked ? now - r.waitsince : 0;
}

std::string hex(uintptr_t v) {
  char b[24];
  snprintf(b, sizeof b, "%#lx", static_cast<unsigned long>(v));
  return b;
}

// Go writes the "#" lines through text/tabwriter (minwidth 1, tabwidth 8,
// padding 1, padding with tabs): every column but the last is padded with
// tabs to the widest cell of the record plus one, rounded up to a tab stop.
void write_aligned(std::ostream& out, const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> width;
  for (const auto& row : rows)
    for (std::size_t c = 0; c + 1 < row.size(); c++) {
      if (width.size() <= c) width.resize(c + 1);
      width[c] = std::max(width[c], (row[c].size() + 1 + 7) / 8 * 8);
    }
  for (const auto& row : rows) {
    for (std::size_t c = 0; c < row.size(); c++) {
      out << row[c];
      if (c + 1 < row.size()) out << std::string((width[c] - row[c].size() + 7) / 8, '\t');
    }
    out << "\n";
  }
}

// A record's return addresses as bytes: the key its stack is grouped by
// (valid while the pass result lives).
std::string_view pcs_key(const GRecord& r) {
  return {reinterpret_cast<const char*>(r.pcs), std::size_t(r.npcs) * sizeof(uintptr_t)};
}

// Go's printCountProfile: one entry per distinct stack, most frequent first,
// ties in the order of their "@ 0x…" keys. Grouped by the raw addresses
// (100k goroutines, a few distinct stacks: the text is made per stack).
void write_count_profile(std::ostream& out, const std::string& name, const std::vector<const GRecord*>& gs) {
  struct Group {
    int count = 0;
    const GRecord* first = nullptr;
    std::string key;  // "@ 0x.. 0x.."
  };
  std::unordered_map<std::string_view, Group> groups;
  for (const GRecord* r : gs) {
    Group& g = groups[pcs_key(*r)];
    if (g.count++ == 0) g.first = r;
  }
  std::vector<Group*> sorted;
  for (auto& [bytes, g] : groups) {
    g.key = "@";
    for (int i = 0; i < g.first->npcs; i++) g.key += " " + hex(g.first->pcs[i]);
    sorted.push_back(&g);
  }
  std::sort(sorted.begin(), sorted.end(),
            [](const Group* a, const Group* b) { return a->count != b->count ? a->count > b->count : a->key < b->key; });
  out << name << " profile: total " << gs.size() << "\n";
  for (const Group* g : sorted) {
    out << g->count << " " << g->key << "\n";
    std::vector<std::vector<std::string>> rows;
    for (const Frame& f : frames_of(*g->first))
      rows.push_back({"#", hex(f.pc), f.function + "+" + hex(f.entry ? f.pc - f.entry : 0),
                      f.file + ":" + std::to_string(f.line)});
    write_aligned(out, rows);
    out << "\n";
  }
}

// Go's runtime.Stack(all): goroutine blocks separated by blank lines.
void write_dump(std::ostream& out, const std::vector<GRecord>& gs) {
  int64_t now = nanotime_coarse();
  bool first = true;
  for (const GRecord& r : gs) {
    if (!first) out << "\n";
    first = false;
    out << "goroutine " << r.id << " [" << state_of(r) << (r.leaked ? " (leaked)" : "");
    int64_t minutes = waited_ns(r, now) / 60000000000;
    if (minutes >= 1) out << ", " << minutes << " minutes";
    out << "]:\n";
    for (const Frame& f : frames_of(r)) out << format_frame(f);
    if (r.create_pc) out << format_created_by(r.create_pc, r.parent_id);
  }
}

// Samples for profile.proto: one per distinct stack (and wait reason, for
// leaked goroutines, which carry it as a "wait_reason" label), grouped by
// the raw addresses, in the order of (addresses, reason).
std::vector<ProtoSample> proto_samples(const std::vector<const GRecord*>& gs) {
  struct KeyHash {
    std::size_t operator()(const std::pair<std::string_view, const char*>& k) const {
      return std::hash<std::string_view>()(k.first) ^ std::hash<const void*>()(k.second);
    }
  };
  // The reason as wait_reason_string's static text (null: not leaked).
  std::unordered_map<std::pair<std::string_view, const char*>, std::pair<int64_t, const GRecord*>, KeyHash> groups;
  for (const GRecord* r : gs) {
    auto& g = groups[{pcs_key(*r), r->leaked ? wait_reason_string(r->reason) : nullptr}];
    if (g.first++ == 0) g.second = r;
  }
  std::vector<ProtoSample> out;
  for (const auto& [key, g] : groups) {
    ProtoSample s{std::vector<uintptr_t>(g.second->pcs, g.second->pcs + g.second->npcs), g.first, {}};
    if (key.second) s.labels.push_back({"wait_reason", key.second});
    out.push_back(std::move(s));
  }
  static const std::string none;
  auto reason = [](const ProtoSample& s) -> const std::string& { return s.labels.empty() ? none : s.labels[0].second; };
  std::sort(out.begin(), out.end(), [&reason](const ProtoSample& a, const ProtoSample& b) {
    return a.pcs != b.pcs ? a.pcs < b.pcs : reason(a) < reason(b);
  });
  return out;
}

int64_t wall_nanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::mutex stats_mu;
pprof::PassStats stats;  // guarded by stats_mu

PassResult checked_pass(bool detect, Stacks stacks) {
  PassResult res = run_pass(detect, stacks);
  if (!res.ok) throw pprof::PassError(res.error);
  if (detect && options().reclaim) (void)reclaim_leaked_gs();  // STRAY_RECLAIM=1
  std::lock_guard<std::mutex> g(stats_mu);
  stats = {std::chrono::nanoseconds(res.pause_ns),
           std::chrono::nanoseconds(res.total_ns),
           res.snapshot ? "snapshot" : "inplace",
           res.fallback,
           res.scanned_bytes,
           int(res.gs.size()),
           res.leaked,
           res.mark_workers};
  return res;
}

std::vector<pprof::Goroutine> to_public(const PassResult& res, bool leaked_only) {
  int64_t now = nanotime_coarse();
  std::vector<pprof::Goroutine> out;
  for (const GRecord& r : res.gs) {
    if (leaked_only && !r.leaked) continue;
    pprof::Goroutine g;
    g.id = r.id;
    g.state = state_of(r);
    g.leaked = r.leaked;
    g.waiting = std::chrono::nanoseconds(waited_ns(r, now));
    for (const Frame& f : frames_of(r)) g.stack.push_back({f.function, f.file, f.line});
    if (r.create_pc) {
      Frame c = symbolize(r.create_pc).front();
      g.created_by = {c.function, c.file, c.line};
    }
    g.parent_id = r.parent_id;
    g.lock_holder = r.lock_holder;
    out.push_back(std::move(g));
  }
  return out;
}

}  // namespace

}  // namespace stray::rt

namespace stray::pprof {

using namespace rt;

namespace {

// Each public entry scrubs the dead stack below it and does its work in a
// callee, whose frames then start out clean (see scrub_dead_stack).
constexpr std::size_t kScrubBytes = 16 << 10;

[[gnu::noinline]] int count_impl(const std::string& name) {
  if (name == "goroutineleak") return checked_pass(true, Stacks::none).leaked;
  return num_goroutine();
}

[[gnu::noinline]] void write_impl(const std::string& name_, std::ostream& out, int debug) {
  if (debug < 0 || debug > 2) throw std::invalid_argument("stray::pprof: debug must be 0, 1 or 2");
  bool leak = name_ == "goroutineleak";
  PassResult res = checked_pass(leak, debug == 2 || !leak ? Stacks::all : Stacks::leaked);
  if (debug == 2) return write_dump(out, res.gs);
  std::vector<const GRecord*> listed;
  for (const GRecord& r : res.gs)
    if (!leak || r.leaked) listed.push_back(&r);
  if (debug == 1) return write_count_profile(out, name_, listed);
  std::string bytes = encode_count_profile(name_, proto_samples(listed), wall_nanos());
  out.write(bytes.data(), std::streamsize(bytes.size()));
}

[[gnu::noinline]] std::vector<Goroutine> detect_impl() { return to_public(checked_pass(true, Stacks::leaked), true); }

[[gnu::noinline]] std::vector<Charged> charged_impl() {
  PassResult res = checked_pass(true, Stacks::all);
  std::vector<Goroutine> pub = to_public(res, false);  // one record per res.gs entry, in order
  std::vector<Charged> out(pub.size());
  for (std::size_t i = 0; i < pub.size(); i++) out[i] = {std::move(pub[i]), res.gs[i].account};
  return out;
}

}  // namespace

int Profile::count() {
  scrub_dead_stack(kScrubBytes);
  return count_impl(name_);
}

void Profile::write_to(std::ostream& out, int debug) {
  scrub_dead_stack(kScrubBytes);
  write_impl(name_, out, debug);
}

Profile* lookup(std::string_view name) {
  static Profile goroutine("goroutine"), goroutineleak("goroutineleak");
  if (name == "goroutine") return &goroutine;
  if (name == "goroutineleak") return &goroutineleak;
  return nullptr;
}

std::vector<Goroutine> detect_leaks() {
  scrub_dead_stack(kScrubBytes);
  return detect_impl();
}

PassStats last_pass() {
  std::lock_guard<std::mutex> g(stats_mu);
  return stats;
}

std::vector<Goroutine> goroutines() { return to_public(checked_pass(false, Stacks::all), false); }

}  // namespace stray::pprof

namespace stray {

int reclaim_leaked() { return rt::reclaim_leaked_gs(); }

}  // namespace stray

namespace stray::rt {

std::vector<Charged> charged_goroutines() {
  scrub_dead_stack(pprof::kScrubBytes);
  return pprof::charged_impl();
}

}  // namespace stray::rt
