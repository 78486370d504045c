// leakcases.cc — the corpus's runner and judge (see leakcase.h).
//
//   leakcases --run NAME   one run of a case in this process: prints a line
//                          "SITE entry [reason]" per leaked goroutine
//   leakcases --table      judges every case, prints Go's table (case, S/F,
//                          expected sites found / expected, known misses,
//                          unexpected reports, verdict)
//   leakcases [gtest flags] one GoogleTest test per case (LeakCases.NAME),
//                          each judging its case; ctest runs one per entry
//
// Every run is a fresh process (`--run`), as Go runs each repetition of a
// case as its own program: leaked goroutines never go away, so runs in one
// process would see each other's.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <random>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "leakcase.h"

namespace leakcases {
namespace {

std::vector<Case>& corpus() {
  static std::vector<Case> all;
  return all;
}

const Case* find_case(const std::string& name) {
  for (const Case& c : corpus())
    if (c.name == name) return &c;
  return nullptr;
}

// One run, in this process. The case body runs as a goroutine (Go's main
// goroutine shares the processor with the others; a plain thread would not).
[[noreturn]] void run_once(const Case& c) {
  if (c.kind == Kind::strict) stray::set_procs(1);
  auto done = stray::make_chan<std::vector<stray::pprof::Goroutine>>(1);
  stray::go([&c, done]() mutable {
    c.run();
    settle();
    if (c.settle.count() > 0) stray::sleep(c.settle);
    done.send(stray::pprof::detect_leaks());
  });
  std::optional<std::vector<stray::pprof::Goroutine>> leaks = done.recv();
  for (const stray::pprof::Goroutine& g : *leaks) {
    std::string entry = g.stack.empty() ? "?" : g.stack.back().function;
    std::printf("SITE %s [%s]\n", entry.c_str(), g.state.c_str());
  }
  std::fflush(stdout);
  _exit(0);  // leaked goroutines stay parked: skip destructors
}

struct Verdict {
  int runs = 0;
  std::set<std::string> found;         // expected patterns seen
  std::vector<std::string> unexpected;  // reports matching no pattern
  std::string errors;                   // runs that failed to produce a report
};

bool quick() {
  const char* q = std::getenv("STRAY_LEAKCASES_QUICK");
  return q && std::strcmp(q, "1") == 0;
}

Verdict judge(const Case& c) {
  Verdict v;
  v.runs = c.kind == Kind::strict ? 3 : quick() ? 3 : 11;
  std::vector<std::regex> patterns;
  for (const std::string& p : c.expected) patterns.emplace_back(p);
  char exe[4096];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  exe[n > 0 ? n : 0] = 0;
  for (int r = 0; r < v.runs; r++) {
    std::string cmd = std::string("timeout 300 '") + exe + "' --run " + c.name + " 2>&1";
    FILE* p = popen(cmd.c_str(), "r");
    if (!p) {
      v.errors += "popen failed\n";
      continue;
    }
    std::string out;
    char buf[4096];
    while (std::fgets(buf, sizeof buf, p)) out += buf;
    int status = pclose(p);
    if (status != 0) v.errors += "run " + std::to_string(r + 1) + " exited with status " + std::to_string(status) + ":\n" + out;
    std::istringstream lines(out);
    for (std::string line; std::getline(lines, line);) {
      if (line.rfind("SITE ", 0) != 0) continue;
      std::string site = line.substr(5);
      bool matched = false;
      for (std::size_t i = 0; i < patterns.size(); i++)
        if (std::regex_search(site, patterns[i])) {
          v.found.insert(c.expected[i]);
          matched = true;
          break;
        }
      if (!matched) v.unexpected.push_back(site);
    }
  }
  return v;
}

// Go's judgement of a verdict: the failure text, empty when the case passes.
bool known_miss(const Case& c, const std::string& pattern) {
  for (const std::string& m : c.known_misses)
    if (m == pattern) return true;
  return false;
}

std::string failures(const Case& c, const Verdict& v) {
  std::string why = v.errors;
  for (const std::string& u : v.unexpected) why += "unexpected leak (a false positive): " + u + "\n";
  for (const std::string& e : c.expected) {
    bool found = v.found.count(e) > 0;
    if (found && known_miss(c, e) && c.kind == Kind::strict)
      why += "found now, drop it from known_misses: " + e + "\n";
    if (!found && !known_miss(c, e) && c.kind == Kind::strict)
      why += "expected leak not found in " + std::to_string(v.runs) + " runs: " + e + "\n";
  }
  for (const std::string& m : c.known_misses)
    if (!std::count(c.expected.begin(), c.expected.end(), m)) why += "known miss is not an expected site: " + m + "\n";
  return why;
}

class CaseTest : public ::testing::Test {
 public:
  explicit CaseTest(const Case* c) : c_(c) {}
  void TestBody() override {
    std::string why = failures(*c_, judge(*c_));
    EXPECT_TRUE(why.empty()) << why;
  }

 private:
  const Case* c_;
};

int table() {
  std::printf("%-24s %-3s %-9s %-7s %-10s %s\n", "case", "S/F", "found", "known", "unexpected", "verdict");
  int bad = 0;
  for (const Case& c : corpus()) {
    Verdict v = judge(c);
    bool ok = failures(c, v).empty();
    bad += !ok;
    std::printf("%-24s %-3s %zu/%-7zu %-7zu %-10zu %s%s\n", c.name.c_str(), c.kind == Kind::strict ? "S" : "F",
                v.found.size(), c.expected.size(), c.known_misses.size(), v.unexpected.size(), ok ? "pass" : "FAIL",
                v.errors.empty() ? "" : " (a run failed)");
  }
  return bad == 0 ? 0 : 1;
}

}  // namespace

bool add(Case c) {
  corpus().push_back(std::move(c));
  return true;
}

int rand_intn(int n) {
  thread_local std::minstd_rand r{std::random_device{}()};
  return std::uniform_int_distribution<int>(0, n - 1)(r);
}

void settle() {
  for (int i = 0; i < 10; i++) stray::yield();
}

// The false-positive oracle is always on (a user's setting wins): every
// run, the table's too (tests/test_main.cc says why not through ctest).
[[gnu::constructor(101)]] void oracle_on() { setenv("STRAY_LEAK_ORACLE", "1", 0); }

}  // namespace leakcases

int main(int argc, char** argv) {
  using namespace leakcases;
  if (argc == 3 && std::strcmp(argv[1], "--run") == 0) {
    const Case* c = find_case(argv[2]);
    if (!c) {
      std::fprintf(stderr, "leakcases: no case %s\n", argv[2]);
      return 2;
    }
    run_once(*c);
  }
  if (argc == 2 && std::strcmp(argv[1], "--table") == 0) return table();
  ::testing::InitGoogleTest(&argc, argv);
  for (const Case& c : corpus())
    ::testing::RegisterTest("LeakCases", c.name.c_str(), nullptr, nullptr, __FILE__, __LINE__,
                            [&c]() -> ::testing::Test* { return new CaseTest(&c); });
  return RUN_ALL_TESTS();
}
