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

// Go's printCountProfile: one entry per distinct stack, most frequent first,
// ties in the order of their "@ 0x…" keys.
void write_count_profile(std::ostream& out, const std::string& name, const std::vector<const GRecord*>& gs) {
  std::map<std::string, std::pair<int, const GRecord*>> groups;  // key: "@ 0x.. 0x.."
  for (const GRecord* r : gs) {
    std::string key = "@";
    for (int i = 0; i < r->npcs; i++) key += " " + hex(r->pcs[i]);
    auto& g = groups[key];
    if (g.first++ == 0) g.second = r;
  }
  std::vector<std::pair<const std::string*, std::pair<int, const GRecord*>>> sorted;
  for (const auto& [key, g] : groups) sorted.push_back({&key, g});
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const auto& a, const auto& b) { return a.second.first > b.second.first; });
  out << name << " profile: total " << gs.size() << "\n";
  for (const auto& [key, g] : sorted) {
    out << g.first << " " << *key << "\n";
    std::vector<std::vector<std::string>> rows;
    for (const Frame& f : frames_of(*g.second))
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
// leaked goroutines, which carry it as a "wait_reason" label).
std::vector<ProtoSample> proto_samples(const std::vector<const GRecord*>& gs) {
  std::map<std::pair<std::vector<uintptr_t>, std::string>, int64_t> groups;
  for (const GRecord* r : gs) {
    std::string reason = r->leaked ? wait_reason_string(r->reason) : "";
    groups[{std::vector<uintptr_t>(r->pcs, r->pcs + r->npcs), reason}]++;
  }
  std::vector<ProtoSample> out;
  for (const auto& [key, count] : groups) {
    ProtoSample s{key.first, count, {}};
    if (!key.second.empty()) s.labels.push_back({"wait_reason", key.second});
    out.push_back(std::move(s));
  }
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
  stats = {std::chrono::nanoseconds(res.pause_ns), std::chrono::nanoseconds(res.total_ns), "inplace",
           res.scanned_bytes,                      int(res.gs.size()),
           res.leaked,                             res.mark_workers};
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
