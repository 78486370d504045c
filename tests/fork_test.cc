// fork_test.cc — fork() and the runtime (README "fork()").
//
// The child of a fork() taken once the runtime's threads exist has only the
// forking thread: every stray call that needs another runtime thread must
// end it at once with Go's "fatal error:" and exit status 2, never hang.
// fork+exec keeps working, non-blocking calls that complete at once work,
// and the child of a fork taken before the runtime started gets a working
// runtime of its own.
//
// Each child runs with its stderr in a pipe the parent reads. A child that
// hangs is the failure these tests exist for, so the parent's wait is
// bounded: past kBound it kills the child and fails (a bound, never a
// synchronisation sleep; a healthy child ends within milliseconds).
// gtest's death tests are not used: plain fork() is what is tested.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "runtime/fatal.h"
#include "runtime/lock.h"
#include "test_util.h"

#if defined(__SANITIZE_ADDRESS__)
// LeakSanitizer in a forked child cannot stop, or scan the thread-local
// storage of, the parent's other threads, which the child does not have
// ("Running thread N was not suspended. False leaks are possible."): a
// block only they point to — glibc's list of a worker's thread_local
// destructors — is then reported as a leak when a child calls exit(), as
// this binary's children do. Leaks are checked in every other binary.
extern "C" const char* __lsan_default_options() { return "detect_leaks=0"; }
#endif
#include "runtime/timers.h"

extern char** environ;

namespace {

using namespace std::chrono_literals;
using stray::Chan;
using stray::make_chan;

constexpr auto kBound = 10s;
const char* const kFatal = "fatal error: stray: runtime used in a child process after fork()\n";

// A forked child: its pid and the read end of the pipe that is its stderr.
struct Child {
  pid_t pid = -1;
  int err = -1;
};

// What became of a child.
struct Outcome {
  bool hung = false;  // still running after kBound: killed
  int status = 0;     // waitpid's
  std::string err;    // everything it wrote to stderr
};

// Forks; the child runs body() with stderr redirected into a pipe and then
// _exit(0)s (3 if body threw), or with exit_after=false returns {0, -1} to
// its caller. Callable from a goroutine or a thread.
template <class F>
Child fork_child(F body, bool exit_after = true) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return {};
  pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], 2);
    close(fds[0]);
    close(fds[1]);
    try {
      body();
    } catch (...) {
      _exit(3);
    }
    if (exit_after) _exit(0);
    return {0, -1};
  }
  close(fds[1]);
  if (pid < 0) {
    close(fds[0]);
    return {};
  }
  return {pid, fds[0]};
}

int ms_left(std::chrono::steady_clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  return left.count() > 0 ? int(left.count()) : 0;
}

// Reads the child's stderr to EOF and reaps it, all within kBound; a child
// still alive then is killed and reported hung.
Outcome wait_child(Child c) {
  Outcome o;
  auto deadline = std::chrono::steady_clock::now() + kBound;
  char buf[4096];
  for (;;) {
    pollfd p{c.err, POLLIN, 0};
    int r = poll(&p, 1, ms_left(deadline));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      o.hung = true;
      break;
    }
    ssize_t n = read(c.err, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // EOF: the child is gone (or closed its stderr)
    o.err.append(buf, std::size_t(n));
  }
  close(c.err);
  if (!o.hung) {
    // EOF came; wait for the exit itself within what is left of the bound.
    int pidfd = int(syscall(SYS_pidfd_open, c.pid, 0));
    if (pidfd >= 0) {
      pollfd p{pidfd, POLLIN, 0};
      int r;
      while ((r = poll(&p, 1, ms_left(deadline))) < 0 && errno == EINTR) {
      }
      if (r == 0) o.hung = true;
      close(pidfd);
    }
  }
  if (o.hung) kill(c.pid, SIGKILL);
  while (waitpid(c.pid, &o.status, 0) < 0 && errno == EINTR) {
  }
  return o;
}

std::string describe(const Outcome& o) {
  std::string s;
  if (o.hung) s = "the child hung and was killed after the bound";
  else if (WIFEXITED(o.status)) s = "the child exited with status " + std::to_string(WEXITSTATUS(o.status));
  else if (WIFSIGNALED(o.status)) s = "the child was killed by signal " + std::to_string(WTERMSIG(o.status));
  return s + "; its stderr:\n" + o.err;
}

// The child ended with the fork error: status 2, the first line, and a
// second line saying what to do instead.
void expect_fork_fatal(const Outcome& o) {
  ASSERT_FALSE(o.hung) << describe(o);
  ASSERT_TRUE(WIFEXITED(o.status)) << describe(o);
  EXPECT_EQ(WEXITSTATUS(o.status), 2) << describe(o);
  std::size_t at = o.err.find(kFatal);
  ASSERT_NE(at, std::string::npos) << describe(o);
  std::string hint = o.err.substr(at + strlen(kFatal));
  hint = hint.substr(0, hint.find('\n'));
  EXPECT_NE(hint.find("exec"), std::string::npos) << hint;
  EXPECT_NE(hint.find("only in the parent"), std::string::npos) << hint;
  EXPECT_NE(hint.find("fork before the first stray call"), std::string::npos) << hint;
}

// The child returned from its body normally, printing nothing.
void expect_clean_exit(const Outcome& o) {
  ASSERT_FALSE(o.hung) << describe(o);
  ASSERT_TRUE(WIFEXITED(o.status)) << describe(o);
  EXPECT_EQ(WEXITSTATUS(o.status), 0) << describe(o);
  EXPECT_EQ(o.err, "");
}

// A running runtime to fork from. Goroutines parked in every way the
// child's calls will meet: a receiver, a sender, a Mutex holder; a plain
// thread holding a runtime Lock. With busy=true, goroutines also keep every
// worker switching (yields, a channel ping-pong, short sleeps, so the timer
// thread fires), and whatever runtime lock they hold at the fork stays held
// in the child.
class World {
 public:
  Chan<int> parked_recv = make_chan<int>();  // a goroutine is blocked receiving on it
  Chan<int> parked_send = make_chan<int>();  // a goroutine is blocked sending on it
  stray::Mutex held;                         // locked by a parked goroutine
  stray::rt::Lock runtime_lock;              // held by a plain thread

  explicit World(bool busy) {
    wg_.go([c = parked_recv] { c.recv(); });
    stray::test::wait_until_waiting(1, stray::rt::WaitReason::chan_receive);
    wg_.go([c = parked_send] { c.send(1); });
    stray::test::wait_until_waiting(1, stray::rt::WaitReason::chan_send);
    auto locked = make_chan<stray::Unit>();
    wg_.go([this, locked] {
      held.lock();
      locked.send({});
      release_.recv();
      held.unlock();
    });
    locked.recv();
    lock_holder_ = std::thread([this] {
      stray::rt::LockGuard g(runtime_lock);
      std::unique_lock<std::mutex> l(m_);
      holding_ = true;
      cv_.notify_all();
      cv_.wait(l, [this] { return let_go_; });
    });
    {
      std::unique_lock<std::mutex> l(m_);
      cv_.wait(l, [this] { return holding_; });
    }
    if (!busy) return;
    for (int i = 0; i < 2; i++)
      wg_.go([this] {
        while (!stop_.load()) stray::yield();
      });
    auto ping = make_chan<int>(), pong = make_chan<int>();
    wg_.go([this, ping, pong] {
      while (!stop_.load()) {
        ping.send(1);
        pong.recv();
      }
      ping.close();
    });
    wg_.go([ping, pong] {
      for (int v : ping) pong.send(v);
    });
    // Fork only once the first sleep is over and the timer machinery has
    // started: a fork during its start-up leaves the child's timers() (time.cc)
    // waiting on a function-local static's guard that nobody will release.
    auto slept = make_chan<stray::Unit>();
    wg_.go([this, slept] {
      stray::sleep(100us);
      slept.send({});
      while (!stop_.load()) stray::sleep(100us);
    });
    slept.recv();
  }

  ~World() {
    stop_.store(true);
    release_.send({});
    parked_recv.close();
    parked_send.recv();
    wg_.wait();
    {
      std::lock_guard<std::mutex> l(m_);
      let_go_ = true;
    }
    cv_.notify_all();
    lock_holder_.join();
  }

 private:
  stray::WaitGroup wg_;
  std::atomic<bool> stop_{false};
  Chan<stray::Unit> release_ = make_chan<stray::Unit>();
  std::thread lock_holder_;
  std::mutex m_;
  std::condition_variable cv_;
  bool holding_ = false;
  bool let_go_ = false;
};

// Forks from the calling thread, or from inside a goroutine when
// in_goroutine; runs body in the child and collects it. child_returns:
// after body the child's goroutine returns instead of exiting.
template <class F>
Outcome run_child(bool in_goroutine, F body, bool child_returns = false) {
  if (!in_goroutine) return wait_child(fork_child(body));
  auto out = make_chan<Child>();
  stray::go([out, body, child_returns] {
    Child c = fork_child(body, !child_returns);
    if (c.pid == 0) return;  // the child's goroutine ends here
    out.send(c);
  });
  return wait_child(*out.recv());
}

// ---- every blocking call dies in the child ----

struct BlockingCall {
  const char* name;
  void (*call)(World& w);
};

const BlockingCall kBlockingCalls[] = {
    {"sleep", [](World&) { stray::sleep(1ms); }},
    {"go_then_recv",
     [](World&) {
       auto c = make_chan<int>();
       stray::go([c] { c.send(1); });
       c.recv();
     }},
    {"recv", [](World&) { make_chan<int>().recv(); }},
    {"send", [](World&) { make_chan<int>().send(1); }},
    {"recv_from_parked_sender", [](World& w) { w.parked_send.recv(); }},
    {"send_to_parked_receiver", [](World& w) { w.parked_recv.send(1); }},
    {"close_with_parked_receiver", [](World& w) { w.parked_recv.close(); }},
    {"select", [](World&) { stray::select(stray::recv_case(make_chan<int>())); }},
    {"waitgroup_wait",
     [](World&) {
       stray::WaitGroup wg;
       wg.add(1);
       wg.wait();
     }},
    {"mutex_lock_contended", [](World& w) { w.held.lock(); }},
    {"cond_wait",
     [](World&) {
       stray::Mutex m;
       stray::Cond c(m);
       m.lock();
       c.wait();
     }},
    {"timer_recv", [](World&) { stray::after(1ms).recv(); }},
    {"runtime_lock_contended", [](World& w) { stray::rt::LockGuard g(w.runtime_lock); }},
    {"set_procs", [](World&) { stray::set_procs(stray::procs()); }},
    {"leak_pass", [](World&) { (void)stray::pprof::lookup("goroutineleak")->count(); }},
    {"goroutine_profile", [](World&) { (void)stray::pprof::goroutines(); }},
    {"detect_leaks", [](World&) { (void)stray::pprof::detect_leaks(); }},
};

class ForkDies : public ::testing::TestWithParam<std::tuple<BlockingCall, bool>> {};

// fork() from the main thread (or from a goroutine) while goroutines run;
// the call in the child must end it with the fork error.
TEST_P(ForkDies, InChild) {
  auto [c, in_goroutine] = GetParam();
  World w(/*busy=*/true);
  expect_fork_fatal(run_child(in_goroutine, [&w, call = c.call] { call(w); }));
}

INSTANTIATE_TEST_SUITE_P(Fork, ForkDies, ::testing::Combine(::testing::ValuesIn(kBlockingCalls), ::testing::Bool()),
                         [](const ::testing::TestParamInfo<std::tuple<BlockingCall, bool>>& info) {
                           return std::string(std::get<0>(info.param).name) +
                                  (std::get<1>(info.param) ? "_fromGoroutine" : "_fromThread");
                         });

// ---- a goroutine that forked: the scheduler must never run again ----

TEST(Fork, InGoroutineChildReturnDies) {
  World w(/*busy=*/true);
  // Returning from the goroutine would hand its worker back to a scheduler
  // that has nothing to run and nobody to wake it.
  expect_fork_fatal(run_child(true, [] {}, /*child_returns=*/true));
}

TEST(Fork, InGoroutineChildYieldDies) {
  World w(/*busy=*/true);
  expect_fork_fatal(run_child(true, [] { stray::yield(); }));
}

// ---- what keeps working ----

// Calls that complete at once, without waiting for or waking anybody.
// The parent is quiet (goroutines parked, nobody switching) so that no
// runtime lock these calls take is held at the fork.
TEST(Fork, ChildNonBlockingCallsWork) {
  World w(/*busy=*/false);
  auto buffered = make_chan<int>(2);
  stray::test::wait_until_waiting(3, stray::rt::WaitReason::none);  // the World's three: all parked
  Outcome o = wait_child(fork_child([&] {
    auto fail = [](const char* what) {
      stray::rt::write_err(what);
      _exit(1);
    };
    if (!buffered.try_send(1)) fail("try_send");
    buffered.send(2);  // room in the buffer
    if (buffered.try_send(3)) fail("try_send on a full channel");
    if (buffered.len() != 2 || buffered.cap() != 2) fail("len/cap");
    if (buffered.recv() != 1 || buffered.try_recv() != 2) fail("recv");
    if (buffered.try_recv()) fail("try_recv on an empty channel");
    auto fresh = make_chan<int>(1);
    fresh.send(7);
    bool dflt = false;
    stray::select(stray::recv_case(make_chan<int>()), stray::default_case([&] { dflt = true; }));
    if (!dflt) fail("select default");
    int got = 0;
    stray::select(stray::recv_case(fresh, [&](std::optional<int> v) { got = v.value_or(0); }));
    if (got != 7) fail("select ready case");
    fresh.close();
    if (fresh.recv()) fail("recv on closed");
    stray::Mutex m;
    m.lock();
    if (m.try_lock()) fail("try_lock");
    m.unlock();
    if (w.held.try_lock()) fail("try_lock of a held Mutex");
    stray::WaitGroup wg;
    wg.add(1);
    wg.done();
    wg.wait();  // counter zero: returns at once
    stray::Once once;
    int n = 0;
    once.call([&] { n++; });
    if (n != 1) fail("Once");
    stray::sleep(0ms);
    stray::yield();  // a plain thread: std::this_thread::yield
    if (stray::procs() < 1 || stray::num_goroutine() < 3 || stray::goroutine_id() != 0) fail("procs/num_goroutine");
  }));
  expect_clean_exit(o);
}

// fork+exec in every form: the child handler costs nothing and exec wipes
// the child's state; the parent's runtime runs on unchanged.
TEST(Fork, ExecAfterRuntimeStartedWorks) {
  World w(/*busy=*/true);
  EXPECT_EQ(system("true"), 0);
  EXPECT_EQ(system("exit 3"), 3 << 8);

  FILE* f = popen("echo forked", "r");
  ASSERT_NE(f, nullptr);
  char line[32] = "";
  EXPECT_NE(fgets(line, sizeof line, f), nullptr);
  EXPECT_STREQ(line, "forked\n");
  EXPECT_EQ(pclose(f), 0);

  pid_t pid;
  const char* argv[] = {"sh", "-c", "exit 4", nullptr};
  ASSERT_EQ(posix_spawn(&pid, "/bin/sh", nullptr, nullptr, const_cast<char**>(argv), environ), 0);
  int st = 0;
  ASSERT_EQ(waitpid(pid, &st, 0), pid);
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 4) << st;

  // A plain fork() then exec, from the thread and from a goroutine.
  for (bool in_goroutine : {false, true}) {
    Outcome o = run_child(in_goroutine, [] {
      execl("/bin/sh", "sh", "-c", "echo exec >&2; exit 5", static_cast<char*>(nullptr));
      _exit(127);
    });
    ASSERT_FALSE(o.hung) << describe(o);
    EXPECT_TRUE(WIFEXITED(o.status) && WEXITSTATUS(o.status) == 5) << describe(o);
    EXPECT_EQ(o.err, "exec\n");
  }

  // The parent's runtime is untouched.
  auto c = make_chan<int>();
  stray::go([c] { c.send(42); });
  EXPECT_EQ(c.recv(), 42);
  stray::sleep(1ms);
}

// ---- fork before the runtime started ----

// Tests that need a process in which no runtime thread exists yet run again,
// alone, in a fresh copy of this binary (the other tests of this process may
// have started the runtime). In that copy this returns true and the test
// body runs; in the outer run it re-runs the test, expects it to pass, and
// returns false.
constexpr const char* kFreshEnv = "STRAY_FORK_TEST_FRESH";

bool in_fresh_process() {
  if (getenv(kFreshEnv)) {
    stray::rt::WorkerInfo wi[1];
    EXPECT_EQ(stray::rt::workers(wi, 1), 0) << "the runtime is already running";
    EXPECT_EQ(stray::rt::timer_threads(), 0) << "the timer thread is already running";
    return true;
  }
  int fds[2];
  EXPECT_EQ(pipe2(fds, O_CLOEXEC), 0);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
  const auto* ut = ::testing::UnitTest::GetInstance();
  std::string filter =
      std::string("--gtest_filter=") + ut->current_test_suite()->name() + "." + ut->current_test_info()->name();
  const char* argv[] = {"fork_test", filter.c_str(), nullptr};
  std::string fresh = std::string(kFreshEnv) + "=1";
  std::vector<char*> env{fresh.data()};
  for (char** e = environ; *e; e++) env.push_back(*e);
  env.push_back(nullptr);
  pid_t pid;
  int rc = posix_spawn(&pid, "/proc/self/exe", &fa, nullptr, const_cast<char**>(argv), env.data());
  posix_spawn_file_actions_destroy(&fa);
  close(fds[1]);
  EXPECT_EQ(rc, 0);
  if (rc != 0) return false;
  Outcome o = wait_child({pid, fds[0]});
  EXPECT_FALSE(o.hung) << describe(o);
  EXPECT_TRUE(WIFEXITED(o.status) && WEXITSTATUS(o.status) == 0) << describe(o);
  EXPECT_NE(o.err.find("[  PASSED  ] 1 test."), std::string::npos) << o.err;
  return false;
}

// The child of a fork taken before any runtime thread existed gets a
// working runtime of its own, and so does the parent afterwards.
TEST(Fork, BeforeRuntimeStartedChildGetsWorkingRuntime) {
  STRAY_SKIP_WITHOUT_REEXEC();
  if (!in_fresh_process()) return;
  Outcome o = wait_child(fork_child([] {
    auto c = make_chan<int>();
    stray::go([c] { c.send(42); });
    if (c.recv() != 42) _exit(1);
    stray::sleep(1ms);
    stray::WaitGroup wg;
    for (int i = 0; i < 4; i++) wg.go([] { stray::sleep(1ms); });
    wg.wait();
    stray::set_procs(2);
#if !defined(__SANITIZE_THREAD__)  // leak passes are not supported under TSan
    if (stray::pprof::lookup("goroutineleak")->count() != 0) _exit(1);
#endif
  }));
  expect_clean_exit(o);
  auto c = make_chan<int>();
  stray::go([c] { c.send(7); });
  EXPECT_EQ(c.recv(), 7);
}

// The timer thread is a runtime thread too, and after()/Timer start it
// without the scheduler: a child forked then must not wait for a timer
// that nobody will fire.
TEST(Fork, AfterTimerThreadOnlyChildTimerRecvDies) {
  STRAY_SKIP_WITHOUT_REEXEC();
  if (!in_fresh_process()) return;
  auto t = stray::after(1h);
  ASSERT_EQ(stray::rt::timer_threads(), 1);
  stray::rt::WorkerInfo wi[1];
  ASSERT_EQ(stray::rt::workers(wi, 1), 0);
  expect_fork_fatal(wait_child(fork_child([t] { t.recv(); })));
}

// exit() in the child (rather than _exit) runs the forking thread's
// thread-local destructors, the runtime's included: they must not wait
// for runtime state the gone threads may have held.
TEST(Fork, ChildExitWorks) {
  World w(/*busy=*/true);
  fflush(nullptr);  // nothing buffered for the child's exit() to print twice
  expect_clean_exit(wait_child(fork_child([] { exit(0); })));
}

}  // namespace
