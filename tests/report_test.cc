// report_test.cc — the text formats of the goroutine and goroutineleak
// profiles (Go's debug=1 and debug=2 layouts, pinned line by line) and the
// profile API's edges.
#include <unistd.h>

#include <cstdio>
#include <regex>
#include <sstream>

#include "leak_test.h"
#include "test_util.h"

namespace {

using namespace stray;
using rt::WaitReason;
using stray::test::kLeaks;
using stray::test::leaves_goroutines;
using stray::test::on_goroutine;
using stray::test::wait_until_waiting;

std::atomic<int> l_five;

[[gnu::noinline]] void five_identical_senders() {
  for (int i = 0; i < 5; i++) {
    auto ch = make_chan<int>();
    go([ch] { AT(l_five) ch.send(1); });
  }
}

// Keeps the caller's frame below a call (no tail call).
[[gnu::noinline]] void keep_alive() { asm volatile(""); }

std::vector<std::string> lines(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

std::string profile(const char* name, int debug) {
  std::ostringstream out;
  rt::scrub_dead_stack(64 << 10);
  pprof::lookup(name)->write_to(out, debug);
  return out.str();
}

TEST(Report, LeakProfileDebug1GroupsIdenticalStacks) {
  leaves_goroutines(kLeaks);
  on_goroutine(five_identical_senders);
  wait_until_waiting(5, WaitReason::chan_send);
  auto l = lines(profile("goroutineleak", 1));
  ASSERT_GE(l.size(), 4u);
  EXPECT_EQ(l[0], "goroutineleak profile: total 5");
  EXPECT_TRUE(std::regex_match(l[1], std::regex("5 @( 0x[0-9a-f]+)+"))) << l[1];
  // The first frame shown is the user's: stray's own frames are left out,
  // as Go leaves out runtime frames.
  std::regex frame("#\t0x[0-9a-f]+\t(.+)\\+0x[0-9a-f]+\t(.+):([0-9]+)");
  std::smatch m;
  ASSERT_TRUE(std::regex_match(l[2], m, frame)) << l[2];
  EXPECT_NE(m[1].str().find("five_identical_senders"), std::string::npos) << l[2];
  EXPECT_NE(m[2].str().find("report_test.cc"), std::string::npos);
  EXPECT_EQ(std::stoi(m[3].str()), l_five.load());
  // Every further line up to the blank one is a frame; nothing else follows.
  std::size_t i = 3;
  for (; i < l.size() && !l[i].empty(); i++) EXPECT_TRUE(std::regex_match(l[i], frame)) << l[i];
  EXPECT_EQ(i + 1, l.size());
}

std::atomic<int> l_inner;

[[gnu::noinline]] void a_much_longer_helper_function_name_that_blocks(Chan<int> ch) {
  AT(l_inner) ch.send(1);
}

[[gnu::noinline]] void short_caller() {
  auto ch = make_chan<int>();
  go([ch] {
    a_much_longer_helper_function_name_that_blocks(ch);
    keep_alive();
  });
}

// Go aligns the "#" lines with text/tabwriter: a cell is followed by as many
// tabs as reach the column's width (widest cell + 1, rounded up to 8).
TEST(Report, LeakProfileDebug1AlignsColumnsLikeTabwriter) {
  leaves_goroutines(kLeaks);
  on_goroutine(short_caller);
  wait_until_waiting(1, WaitReason::chan_send);
  auto l = lines(profile("goroutineleak", 1));
  ASSERT_GE(l.size(), 4u);
  std::size_t widest = 0;
  std::vector<std::pair<std::string, int>> fn_cells;
  for (std::size_t i = 2; i < l.size() && !l[i].empty(); i++) {
    // "#" TAB pc TAB+ function TAB+ file:line
    std::smatch m;
    ASSERT_TRUE(std::regex_match(l[i], m, std::regex("#\t(0x[0-9a-f]+)(\t+)([^\t]+)(\t+)([^\t]+)"))) << l[i];
    fn_cells.push_back({m[3].str(), int(m[4].length())});
    widest = std::max(widest, std::size_t(m[3].length()));
  }
  ASSERT_EQ(fn_cells.size(), 2u) << "inner and outer frame";
  EXPECT_NE(fn_cells[0].first.find("a_much_longer_helper_function_name_that_blocks"), std::string::npos);
  std::size_t width = (widest + 1 + 7) / 8 * 8;
  for (const auto& [cell, tabs] : fn_cells) EXPECT_EQ(std::size_t(tabs), (width - cell.size() + 7) / 8) << cell;
  EXPECT_NE(fn_cells[0].second, fn_cells[1].second);  // different lengths, different padding
}

TEST(Report, LeakProfileDebug2IsGosDump) {
  leaves_goroutines(kLeaks);
  on_goroutine(five_identical_senders);
  wait_until_waiting(5, WaitReason::chan_send);
  std::string text = profile("goroutineleak", 2);
  // One block per goroutine: header, frames, created by; blank lines between.
  std::regex block(
      "goroutine ([0-9]+) \\[chan send \\(leaked\\)\\]:\n"
      "(?:[^\n]+\n\t[^\n]+:[0-9]+ \\+0x[0-9a-f]+\n)+"
      "created by [^\n]*five_identical_senders[^\n]* in goroutine ([0-9]+)\n"
      "\t[^\n]*report_test.cc:[0-9]+ \\+0x[0-9a-f]+\n(?:\n|$)");
  int blocks = 0;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), block); it != std::sregex_iterator(); ++it) blocks++;
  EXPECT_EQ(blocks, 5) << text;
  std::string first_frame = "\t" + std::string(__FILE__) + ":" + std::to_string(l_five.load()) + " +0x";
  EXPECT_NE(text.find(first_frame), std::string::npos) << text;
}

TEST(Report, GoroutineProfileListsEveryGoroutine) {
  auto never = make_chan<int>();
  on_goroutine([never] {
    for (int i = 0; i < 3; i++) go([never] { (void)never.recv(); });
  });
  wait_until_waiting(3, WaitReason::chan_receive);
  auto l = lines(profile("goroutine", 1));
  ASSERT_FALSE(l.empty());
  EXPECT_EQ(l[0], "goroutine profile: total 3");
  EXPECT_TRUE(std::regex_match(l[1], std::regex("3 @( 0x[0-9a-f]+)+"))) << l[1];
  // Not leaked (the test holds the channel): no "(leaked)" anywhere.
  std::string dump = profile("goroutine", 2);
  EXPECT_EQ(dump.find("(leaked)"), std::string::npos) << dump;
  EXPECT_EQ(std::count(dump.begin(), dump.end(), '\n') > 0, true);
  EXPECT_NE(dump.find("[chan receive]:\n"), std::string::npos) << dump;
  EXPECT_EQ(pprof::lookup("goroutine")->count(), 3);
  EXPECT_EQ(pprof::lookup("goroutineleak")->count(), 0);
  never.close();
}

// Passes keep a parked goroutine's frames while it does not run
// (G::frames): one that ran since must show where it parks now, and
// one that did not, the same frames again.
std::atomic<int> l_first{0}, l_second{0};

TEST(Report, AGoroutineThatRanSinceTheLastProfileShowsItsNewStack) {
  auto a = make_chan<int>(), b = make_chan<int>();
  std::atomic<bool> moved{false};
  WaitGroup done;
  done.add(1);
  go([a, b, &moved, &done] {
    AT(l_first) (void)a.recv();
    moved = true;
    AT(l_second) (void)b.recv();
    done.done();
  });
  wait_until_waiting(1, WaitReason::chan_receive);
  auto top_line = [] {
    std::vector<pprof::Goroutine> gs = pprof::goroutines();
    return gs.size() == 1 && !gs[0].stack.empty() ? gs[0].stack.front().line : -1;
  };
  EXPECT_EQ(top_line(), l_first.load());
  EXPECT_EQ(top_line(), l_first.load());  // not run since: the kept frames
  a.send(1);
  while (!moved) std::this_thread::yield();
  wait_until_waiting(1, WaitReason::chan_receive);
  EXPECT_EQ(top_line(), l_second.load());
  b.send(1);
  done.wait();
}

std::string write_temp(const std::string& bytes) {
  char path[] = "/tmp/stray-profile-XXXXXX";
  int fd = mkstemp(path);
  EXPECT_GE(fd, 0);
  EXPECT_EQ(write(fd, bytes.data(), bytes.size()), ssize_t(bytes.size()));
  close(fd);
  return path;
}

// debug=0 checked by the real consumer: Debian's `go tool pprof` (the test
// setup installs golang-go).
TEST(Report, ProtoProfileReadByGoToolPprof) {
  leaves_goroutines(kLeaks);
  on_goroutine(five_identical_senders);
  wait_until_waiting(5, WaitReason::chan_send);
  std::string bytes = profile("goroutineleak", 0);
  ASSERT_GT(bytes.size(), 2u);
  EXPECT_EQ(uint8_t(bytes[0]), 0x1f);  // gzip magic
  EXPECT_EQ(uint8_t(bytes[1]), 0x8b);
  std::string path = write_temp(bytes);
  std::string raw = stray::test::run("go tool pprof -raw " + path);
  EXPECT_NE(raw.find("PeriodType: goroutineleak count"), std::string::npos) << raw;
  EXPECT_NE(raw.find("goroutineleak/count"), std::string::npos) << raw;
  EXPECT_TRUE(std::regex_search(raw, std::regex("\n +5: [0-9 ]+\n +wait_reason:\\[chan send\\]"))) << raw;
  std::string site = "report_test.cc:" + std::to_string(l_five.load());
  EXPECT_NE(raw.find(site), std::string::npos) << raw;
  EXPECT_NE(raw.find("five_identical_senders"), std::string::npos) << raw;
  EXPECT_NE(raw.find("[FN][FL][LN][IN]"), std::string::npos) << raw;  // mappings say what they carry
  std::string traces = stray::test::run("go tool pprof -traces " + path);
  EXPECT_NE(traces.find("wait_reason:  chan send"), std::string::npos) << traces;
  EXPECT_NE(traces.find("Type: goroutineleak"), std::string::npos) << traces;
  std::string top = stray::test::run("go tool pprof -top " + path);
  EXPECT_NE(top.find("of 5 total"), std::string::npos) << top;
  unlink(path.c_str());

  // The goroutine profile: same goroutines, no pass needed to list them.
  path = write_temp(profile("goroutine", 0));
  top = stray::test::run("go tool pprof -top " + path);
  EXPECT_NE(top.find("Type: goroutine\n"), std::string::npos) << top;
  EXPECT_NE(top.find("of 5 total"), std::string::npos) << top;
  unlink(path.c_str());
}

TEST(Report, ApiEdges) {
  EXPECT_EQ(pprof::lookup("heap"), nullptr);
  EXPECT_EQ(pprof::lookup(""), nullptr);
  ASSERT_NE(pprof::lookup("goroutine"), nullptr);
  EXPECT_EQ(pprof::lookup("goroutineleak")->name(), "goroutineleak");
  std::ostringstream out;
  EXPECT_THROW(pprof::lookup("goroutine")->write_to(out, 3), std::invalid_argument);
  EXPECT_THROW(pprof::lookup("goroutineleak")->write_to(out, -1), std::invalid_argument);
  EXPECT_EQ(out.str(), "");
}

TEST(Report, PassStatsDescribeTheLastPass) {
  leaves_goroutines(kLeaks);
  on_goroutine(five_identical_senders);
  wait_until_waiting(5, WaitReason::chan_send);
  EXPECT_EQ(pprof::lookup("goroutineleak")->count(), 5);
  pprof::PassStats s = pprof::last_pass();
  EXPECT_EQ(s.leaked, 5);
  EXPECT_EQ(s.goroutines, 5);
  EXPECT_GT(s.pause.count(), 0);
  EXPECT_GE(s.total, s.pause);
  // Auto mode (the default) runs in a snapshot unless it says why not.
  if (const char* mode = getenv("STRAY_LEAK_MODE"); mode && strcmp(mode, "inplace") == 0) {
    EXPECT_EQ(s.mode, "inplace");
  } else {
    EXPECT_TRUE(s.mode == "snapshot" || !s.fallback.empty()) << s.mode;
    EXPECT_EQ(s.fallback.empty(), s.mode == "snapshot") << s.fallback;
  }
  EXPECT_GT(s.scanned_bytes, 0u);
}

// Go's SpawnGC stress case (an F case in leak-cases.md): many goroutines
// request the profile at once; passes run one at a time and each sees a
// consistent world. Every report must be one of the private receivers; a
// receiver may go unreported when a stale copy of its recycled stack's
// address survives somewhere (the conservative scan's known imprecision).
TEST(Report, ConcurrentPassesAreSafe) {
  leaves_goroutines(kLeaks);
  constexpr int n = 32;
  WaitGroup wg;
  std::atomic<int> failures{0};
  for (int i = 0; i < n; i++) {
    wg.go([&] {
      auto mine = make_chan<int>();
      go([mine] { (void)mine.recv(); });  // leaks
      try {
        (void)pprof::detect_leaks();
      } catch (...) {
        failures++;
      }
    });
  }
  wg.wait();
  EXPECT_EQ(failures.load(), 0);
  wait_until_waiting(n, WaitReason::chan_receive);
  auto leaks = pprof::detect_leaks();
  EXPECT_LE(int(leaks.size()), n);
  EXPECT_GE(int(leaks.size()), 1);
  for (const auto& g : leaks) {
    EXPECT_EQ(g.state, "chan receive");
    EXPECT_NE(g.stack.back().function.find("ConcurrentPassesAreSafe"), std::string::npos) << stray::test::describe(g);
  }
}

}  // namespace
