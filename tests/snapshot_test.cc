// snapshot_test.cc — snapshot passes (STRAY_LEAK_MODE, leak/snapshot.cc):
// the same verdicts as in place, the mode and fallback last_pass() reports,
// a fork the kernel refuses, a child that is killed, memory a fork cannot
// copy, and nothing left behind after many passes.
//
// ctest runs this binary once per mode (STRAY_LEAK_MODE=auto, snapshot,
// inplace; tests/CMakeLists.txt) and each test asserts what its mode must
// do. SnapshotChild.* tests run only in a child process (this binary again
// with kChildEnv set; ctest never lists them): they change the process for
// good (a seccomp filter).
#include <dirent.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "leak_test.h"

namespace {

using stray::rt::WaitReason;
using stray::test::kLeaks;
using stray::test::leaves_goroutines;
using stray::test::wait_until_waiting;

constexpr const char* kChildEnv = "STRAY_SNAPSHOT_TEST_CHILD";

#define SKIP_WITHOUT_PASSES()                                                                             \
  if (stray::test::kNoPasses) GTEST_SKIP() << "leak passes are not supported under ThreadSanitizer"; \
  (void)0

enum class Mode { automatic, snapshot, inplace };

Mode mode() {
  const char* m = getenv("STRAY_LEAK_MODE");
  if (m && strcmp(m, "snapshot") == 0) return Mode::snapshot;
  if (m && strcmp(m, "inplace") == 0) return Mode::inplace;
  return Mode::automatic;
}

bool has(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

std::atomic<int> l_recv{0};

[[gnu::noinline]] void blocks_on(stray::Chan<int> c) {
  AT(l_recv) (void)c.recv();
}

// Leaks n receivers on channels only they hold.
void leak_receivers(int n) {
  for (int i = 0; i < n; i++) stray::go([] { blocks_on(stray::make_chan<int>()); });
}

// How many leaked goroutines a pass reports.
int leaked_now() { return int(stray::pprof::detect_leaks().size()); }

// 128 MiB of resident memory holding no pointer, for as long as it lives:
// auto mode then estimates that a fork stops the world for much less time
// than a pass in place.
class DearToScan {
 public:
  DearToScan() : mem_(mmap(nullptr, kBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)) {
    if (mem_ != MAP_FAILED) memset(mem_, 0x11, kBytes);
  }
  ~DearToScan() {
    if (mem_ != MAP_FAILED) munmap(mem_, kBytes);
  }

 private:
  static constexpr std::size_t kBytes = 128 << 20;
  void* mem_;
};

// Why auto mode runs a pass in place before trying a fork, in this build.
#if defined(__SANITIZE_ADDRESS__)
constexpr const char* kAutoInPlace = "in place under a sanitizer";
#else
constexpr const char* kAutoInPlace = nullptr;  // DearToScan makes auto fork
#endif

TEST(Snapshot, SameVerdictInEveryModeAndTheModeIsReported) {
  SKIP_WITHOUT_PASSES();
  leaves_goroutines(kLeaks);
  auto held = stray::make_chan<int>();  // reachable from this frame: never leaked
  stray::go([held] { (void)held.recv(); });
  leak_receivers(3);
  wait_until_waiting(4, WaitReason::chan_receive);
  stray::test::expect_leaks({{"leak_receivers", &l_recv, "chan receive", 3}});
  stray::pprof::PassStats s = stray::pprof::last_pass();
  switch (mode()) {
    case Mode::snapshot: EXPECT_EQ(s.mode, "snapshot"); break;
    case Mode::inplace: EXPECT_EQ(s.mode, "inplace"); break;
    case Mode::automatic: EXPECT_TRUE(s.mode == "snapshot" || !s.fallback.empty()); break;
  }
  if (mode() != Mode::inplace) {
    EXPECT_EQ(s.fallback.empty(), s.mode == "snapshot") << s.fallback;
  }
  EXPECT_GE(s.total, s.pause);
  held.close();
}

// The goroutine profile, whose stacks a snapshot child unwinds, shows the
// same frames.
TEST(Snapshot, GoroutineProfileShowsEveryStack) {
  SKIP_WITHOUT_PASSES();
  auto c = stray::make_chan<int>();
  stray::WaitGroup wg;
  wg.add(2);
  for (int i = 0; i < 2; i++)
    stray::go([c, &wg] {
      blocks_on(c);
      wg.done();
    });
  wait_until_waiting(2, WaitReason::chan_receive);
  std::ostringstream out;
  stray::pprof::lookup("goroutine")->write_to(out, 1);
  EXPECT_TRUE(has(out.str(), "blocks_on")) << out.str();
  EXPECT_TRUE(has(out.str(), "snapshot_test.cc:" + std::to_string(l_recv.load()))) << out.str();
  c.close();
  wg.wait();
}

// The child is killed while it works: the pass fails saying so, and the
// next pass works.
int kill_pipe[2] = {-1, -1};

TEST(Snapshot, AKilledChildFailsThePassAndTheNextPassWorks) {
  SKIP_WITHOUT_PASSES();
  leaves_goroutines(kLeaks);
  DearToScan dear;  // auto mode forks too
  leak_receivers(1);
  wait_until_waiting(1, WaitReason::chan_receive);
  ASSERT_EQ(pipe2(kill_pipe, O_CLOEXEC), 0);
  // In the child: say its pid and whether the program's signals are
  // blocked there, then wait to be killed.
  stray::rt::snapshot_child_test_hook = [] {
    sigset_t mask;
    pthread_sigmask(SIG_BLOCK, nullptr, &mask);
    pid_t said[2] = {getpid(), sigismember(&mask, SIGINT) && sigismember(&mask, SIGTERM) &&
                                   sigismember(&mask, SIGUSR1) && sigismember(&mask, SIGCHLD)};
    (void)!write(kill_pipe[1], said, sizeof said);
    for (;;) pause();
  };
  static pid_t said[2] = {0, 0};
  std::thread killer([] {
    if (read(kill_pipe[0], said, sizeof said) == sizeof said) kill(said[0], SIGKILL);
  });
  std::string error;
  try {
    (void)stray::pprof::detect_leaks();
  } catch (const stray::pprof::PassError& e) {
    error = e.what();
  }
  stray::rt::snapshot_child_test_hook = nullptr;
  close(kill_pipe[1]);  // an in-place pass never forked: the killer reads end of file
  killer.join();
  close(kill_pipe[0]);
  if (stray::pprof::last_pass().mode == "inplace" && error.empty()) {
    EXPECT_NE(mode(), Mode::snapshot);
  } else {
    EXPECT_NE(mode(), Mode::inplace);
    EXPECT_TRUE(has(error, "the snapshot process was killed by signal 9")) << error;
    EXPECT_EQ(said[1], 1) << "the program's signals reach the snapshot process";
  }
  EXPECT_EQ(leaked_now(), 1);
}

// Children of this process, from every thread's list.
int children() {
  int n = 0;
  DIR* d = opendir("/proc/self/task");
  while (dirent* e = d ? readdir(d) : nullptr) {
    if (e->d_name[0] == '.') continue;
    std::ifstream f(std::string("/proc/self/task/") + e->d_name + "/children");
    for (std::string pid; f >> pid;) n++;
  }
  if (d) closedir(d);
  return n;
}

int count_entries(const char* dir) {
  int n = 0;
  DIR* d = opendir(dir);
  while (dirent* e = d ? readdir(d) : nullptr) n += e->d_name[0] != '.';
  if (d) closedir(d);
  return n;
}

int count_lines(const char* path) {
  std::ifstream f(path);
  int n = 0;
  for (std::string l; std::getline(f, l);) n++;
  return n;
}

int sigchld_seen = 0;

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitized = true;
constexpr int kPasses = 200;  // a fork copies the shadow's page tables: 50 ms each
#else
constexpr bool kSanitized = false;
constexpr int kPasses = 1000;
#endif

TEST(Snapshot, AThousandPassesLeaveNoChildFdOrMappingAndSendNoSigchld) {
  SKIP_WITHOUT_PASSES();
  leaves_goroutines(kLeaks);
  leak_receivers(2);
  wait_until_waiting(2, WaitReason::chan_receive);
  EXPECT_EQ(leaked_now(), 2);  // the scratch mappings a pass keeps exist from here on
  struct sigaction sa {}, old{};
  sa.sa_handler = [](int) { sigchld_seen++; };
  ASSERT_EQ(sigaction(SIGCHLD, &sa, &old), 0);
  stray::rt::Range rt[256];
  int fds = count_entries("/proc/self/fd"), maps = count_lines("/proc/self/maps");
  int runtime_maps = stray::rt::runtime_mappings(rt, 256);
  for (int i = 0; i < kPasses; i++) ASSERT_EQ(leaked_now(), 2) << "pass " << i;
  EXPECT_EQ(children(), 0);
  EXPECT_EQ(count_entries("/proc/self/fd"), fds);
  EXPECT_EQ(stray::rt::runtime_mappings(rt, 256), runtime_maps);
  // ASan's allocator maps more memory as its quarantine fills.
  if (!kSanitized) {
    EXPECT_EQ(count_lines("/proc/self/maps"), maps);
  }
  EXPECT_EQ(sigchld_seen, 0);
  sigaction(SIGCHLD, &old, nullptr);
}

// A channel held only in memory a fork cannot copy as a snapshot. The
// goroutine on it is never reported; auto mode runs in place and says why,
// snapshot mode fails the pass saying why.
void held_only_in(void* mem, const char* reason) {
  if (kAutoInPlace && mode() == Mode::automatic) reason = kAutoInPlace;
  auto* slot = new (mem) stray::Chan<int>(stray::make_chan<int>());
  stray::WaitGroup wg;
  wg.add(1);
  stray::go([slot, &wg] {
    (void)slot->recv();
    wg.done();
  });
  wait_until_waiting(1, WaitReason::chan_receive);
  std::string error;
  std::size_t leaked = 99;
  try {
    leaked = stray::pprof::detect_leaks().size();
  } catch (const stray::pprof::PassError& e) {
    error = e.what();
  }
  stray::pprof::PassStats s = stray::pprof::last_pass();
  switch (mode()) {
    case Mode::snapshot: EXPECT_TRUE(has(error, reason)) << error; break;
    case Mode::inplace: EXPECT_EQ(leaked, 0u) << error; break;
    case Mode::automatic:
      EXPECT_EQ(leaked, 0u) << error;
      EXPECT_EQ(s.mode, "inplace");
      EXPECT_TRUE(has(s.fallback, reason)) << s.fallback;
      break;
  }
  slot->close();
  wg.wait();
  slot->~Chan<int>();
}

TEST(Snapshot, ASharedWritableMappingIsNotCopied) {
  SKIP_WITHOUT_PASSES();
  DearToScan dear;
  void* mem = mmap(nullptr, 1 << 20, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(mem, MAP_FAILED);
  held_only_in(static_cast<char*>(mem) + 4096, "shared writable mapping");
  munmap(mem, 1 << 20);
}

// 64 MiB: a hole the child's scratch blocks could fill, had the child
// mapped any before its check (it maps none; snapshot.cc).
TEST(Snapshot, AMappingLeftOutOfForksIsNotCopied) {
  SKIP_WITHOUT_PASSES();
  constexpr std::size_t kBytes = 64 << 20;
  DearToScan dear;
  void* mem = mmap(nullptr, kBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  ASSERT_NE(mem, MAP_FAILED);
  ASSERT_EQ(madvise(mem, kBytes, MADV_DONTFORK), 0);
  held_only_in(static_cast<char*>(mem) + 4096, "MADV_DONTFORK");
  munmap(mem, kBytes);
}

TEST(Snapshot, AMappingForksGetEmptyIsNotCopied) {
  SKIP_WITHOUT_PASSES();
  DearToScan dear;
  void* mem = mmap(nullptr, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(mem, MAP_FAILED);
  ASSERT_EQ(madvise(mem, 1 << 20, MADV_WIPEONFORK), 0);
  held_only_in(static_cast<char*>(mem) + 4096, "MADV_WIPEONFORK");
  munmap(mem, 1 << 20);
}

// ---- a fork the kernel refuses (in a child process) ----

// Makes clone(2) without CLONE_THREAD fail with EPERM (threads may still be
// made; clone3 says ENOSYS, so glibc falls back to clone), for every thread.
bool refuse_forks() {
  sock_filter f[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_clone3, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_clone, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, args[0])),  // the flags' low word
      BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, CLONE_THREAD, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
  };
  sock_fprog prog{sizeof f / sizeof f[0], f};
  return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
         syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &prog) == 0;
}

TEST(SnapshotChild, ForksRefused) {
  if (!getenv(kChildEnv)) GTEST_SKIP() << "runs in a child process";
  leaves_goroutines(kLeaks);
  ASSERT_TRUE(refuse_forks());
  DearToScan dear;
  leak_receivers(2);
  wait_until_waiting(2, WaitReason::chan_receive);
  try {
    printf("leaked %d\n", leaked_now());
    stray::pprof::PassStats s = stray::pprof::last_pass();
    printf("mode %s fallback %s\n", s.mode.c_str(), s.fallback.c_str());
  } catch (const stray::pprof::PassError& e) {
    printf("error %s\n", e.what());
  }
}

TEST(Snapshot, AForkTheKernelRefusesFallsBackOrFails) {
  SKIP_WITHOUT_PASSES();
  STRAY_SKIP_WITHOUT_REEXEC();
  stray::test::CommandRun r =
      // LeakSanitizer's exit check forks a tracer, which the filter refuses.
      stray::test::run_self(std::string(kChildEnv) + "=1 ASAN_OPTIONS=detect_leaks=0", "SnapshotChild.ForksRefused");
  EXPECT_EQ(r.exit_status, 0) << r.out;
  const char* refused = "leak pass: cannot fork a snapshot: Operation not permitted";
  switch (mode()) {
    case Mode::snapshot: EXPECT_TRUE(has(r.out, std::string("error ") + refused)) << r.out; break;
    case Mode::inplace:
      EXPECT_TRUE(has(r.out, "leaked 2\nmode inplace fallback \n")) << r.out;
      break;
    case Mode::automatic:
      EXPECT_TRUE(has(r.out, "leaked 2\n")) << r.out;
      EXPECT_TRUE(has(r.out, std::string("mode inplace fallback ") + (kAutoInPlace ? kAutoInPlace : refused)))
          << r.out;
      break;
  }
}

}  // namespace
