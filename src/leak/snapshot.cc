// snapshot.cc — snapshot passes (leak.h): the leak pass's analysis run in a
// copy-on-write image of the stopped process, so that the world stays
// stopped only for the copy.
//
// Owns the snapshot child and its answer pipe. The child is made with a raw
// clone(2) while the world is stopped:
// * no atfork handler runs: they belong to the program and to libraries,
//   and could take locks the stopped threads hold;
// * its exit signal is 0: no SIGCHLD reaches the program, whose handler or
//   waitpid(-1) reaper never sees the child; only a waitpid with __WALL on
//   its pid reaps it, here;
// * the answer pipe is made while the world is stopped, and the parent
//   closes its write end before the world restarts: no other process can
//   inherit that end, so end of file means the child is gone.
// The child follows the stopped phase's rules (leak.h: reads memory,
// writes scratch, never malloc, never a lock), is the only thread of its
// process (mark's helpers are raw threads it starts itself), dies with
// its parent thread (PR_SET_PDEATHSIG), runs with every signal blocked
// (the program's handlers are not for it), and ends with exit_group,
// running no exit handler.
//
// What a fork cannot copy, and the pass then cannot run in the snapshot:
// * writable shared mappings the program made (MAP_SHARED, shm): the child
//   would read the live memory the program goes on changing — a pointer
//   moved while the child scans could be missed. The parent checks the
//   maps it read while stopped (snapshot_copies_all) before forking;
// * mappings the kernel leaves out of the child (MADV_DONTFORK) or gives it
//   empty (MADV_WIPEONFORK): the child checks its own /proc/self/smaps
//   against the parent's maps (snapshot_is_complete) and answers that the
//   snapshot is incomplete. The child maps nothing before that check
//   (its buffers are allocated by the parent before the fork): its first
//   mmap could land where a mapping it lacks was, and hide the hole.
//
// Lock order: none; the caller holds the pass lock.
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

#include "leak/leak.h"
#include "runtime/stw.h"

namespace stray::rt {
namespace {

constexpr std::size_t kAnswerBuffer = 64 << 10;

bool write_all(int fd, const char* p, std::size_t n) {
  while (n) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= std::size_t(w);
  }
  return true;
}

bool shared_writable(const Mapping& m) { return user_writable(m) && m.perms[3] == 's'; }

bool in_runtime_memory(const Mapping& m) {
  Range rt[256];
  int n = runtime_mappings(rt, 256);
  for (int i = 0; i < n; i++)
    if (rt[i].lo <= m.lo && m.hi <= rt[i].hi) return true;
  return false;
}

void say_mapping(const char* what, const Mapping& m, char* why, std::size_t whylen) {
  snprintf(why, whylen, "%s %#lx-%#lx %s %.*s", what, (unsigned long)m.lo, (unsigned long)m.hi, m.perms,
           int(m.pathlen < 80 ? m.pathlen : 80), m.path);
}

// One mapping of /proc/self/smaps: its maps line, then "Key: value" lines,
// VmFlags among them.
struct SmapsEntry {
  Mapping m;
  bool wiped;  // VmFlags has wf (MADV_WIPEONFORK)
};

bool is_header(const char* p) {
  for (; *p && *p != '\n' && *p != ' '; p++)
    if (*p == '-') return true;
  return false;
}

bool has_flag(const char* line, const char* flag) {
  for (const char* p = line; *p && *p != '\n'; p++)
    if (p[0] == ' ' && p[1] == flag[0] && p[2] == flag[1] && (p[3] == ' ' || p[3] == '\n')) return true;
  return false;
}

bool next_smaps(const char*& p, SmapsEntry* e) {
  if (!next_mapping(p, &e->m)) return false;
  e->wiped = false;
  while (*p && !is_header(p)) {
    if (strncmp(p, "VmFlags:", 8) == 0) e->wiped = has_flag(p, "wf");
    while (*p && *p != '\n') p++;
    if (*p) p++;
  }
  return true;
}

}  // namespace

bool snapshot_copies_all(const char* maps, char* why, std::size_t whylen) {
  Mapping m{};
  for (const char* p = maps; next_mapping(p, &m);) {
    if (shared_writable(m) && !in_runtime_memory(m)) {
      say_mapping("leak pass: a snapshot would not copy this shared writable mapping:", m, why, whylen);
      return false;
    }
  }
  return true;
}

std::size_t smaps_buffer_size(const char* maps) {
  std::size_t lines = 0;
  for (const char* p = maps; *p; p++) lines += *p == '\n';
  return (lines + 16) * 4096;  // a mapping's smaps entry: about 1 KiB
}

bool snapshot_is_complete(const char* parent_maps, char* buf, std::size_t len, char* why, std::size_t whylen) {
  int fd = open("/proc/self/smaps", O_RDONLY | O_CLOEXEC);
  int err = fd < 0 ? errno : 0;
  std::size_t n = 0;
  while (fd >= 0 && n + 1 < len) {
    ssize_t got = read(fd, buf + n, len - 1 - n);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) err = errno;
    if (got <= 0) break;
    n += std::size_t(got);
  }
  if (fd >= 0) close(fd);
  if (err) {
    describe_errno("leak pass: cannot read /proc/self/smaps in the snapshot", err, why, whylen);
    return false;
  }
  if (n + 1 >= len) {
    snprintf(why, whylen, "leak pass: /proc/self/smaps in the snapshot is larger than its buffer (%zu bytes)", len);
    return false;
  }
  buf[n] = 0;
  const char* c = buf;
  // Both lists ascend: one walk.
  SmapsEntry cur{};
  bool have = next_smaps(c, &cur);
  Mapping m{};
  for (const char* p = parent_maps; next_mapping(p, &m);) {
    if (!user_writable(m)) continue;
    for (uintptr_t at = m.lo; at < m.hi; at = cur.m.hi) {
      while (have && cur.m.hi <= at) have = next_smaps(c, &cur);
      if (!have || cur.m.lo > at) {
        say_mapping("leak pass: a snapshot leaves out this mapping (MADV_DONTFORK):", m, why, whylen);
        return false;
      }
      if (cur.wiped) {
        say_mapping("leak pass: a snapshot gets this mapping empty (MADV_WIPEONFORK):", m, why, whylen);
        return false;
      }
    }
  }
  return true;
}

// ---- the child's answer ----

AnswerWriter::AnswerWriter(int fd, char* buf) : fd_(fd), buf_(buf) {}

void AnswerWriter::put(const void* p, std::size_t n) {
  const char* c = static_cast<const char*>(p);
  while (n && ok_) {
    if (!buf_) {
      ok_ = write_all(fd_, c, n);
      return;
    }
    std::size_t room = kAnswerBuffer - len_;
    std::size_t k = n < room ? n : room;
    memcpy(buf_ + len_, c, k);
    len_ += k;
    c += k;
    n -= k;
    if (len_ == kAnswerBuffer) flush();
  }
}

bool AnswerWriter::flush() {
  if (ok_ && len_) ok_ = write_all(fd_, buf_, len_);
  len_ = 0;
  return ok_;
}

// ---- the parent's side ----

void (*snapshot_child_test_hook)() = nullptr;

bool Snapshot::start(FnRef<void(AnswerWriter&)> child, Scratch& s, char* why, std::size_t whylen) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    describe_errno("leak pass: cannot make the snapshot's pipe", errno, why, whylen);
    return false;
  }
  pid_t parent = getpid();
  char* answer = s.alloc<char>(kAnswerBuffer);  // here: see the file comment
  // The child runs with every signal blocked, from its first instruction:
  // the program's handlers are not for it (a Ctrl-C reaches the whole
  // process group), and a fault still kills it, blocked or not.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  // Exit signal 0 (see the file comment); no CLONE_VM: a copy-on-write
  // image, as fork makes, without fork's handlers.
  long pid = syscall(SYS_clone, 0L, nullptr, nullptr, nullptr, nullptr);
  if (pid == 0) {
    close(fds[0]);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) syscall(SYS_exit_group, 1);  // the parent thread is gone already
    if (snapshot_child_test_hook) snapshot_child_test_hook();
    AnswerWriter out(fds[1], answer);
    child(out);
    out.flush();
    syscall(SYS_exit_group, 0);
  }
  int err = errno;
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  close(fds[1]);
  if (pid < 0) {
    close(fds[0]);
    describe_errno("leak pass: cannot fork a snapshot", err, why, whylen);
    return false;
  }
  pid_ = pid_t(pid);
  fd_ = fds[0];
  return true;
}

bool Snapshot::finish(std::vector<char>* answer, char* why, std::size_t whylen) {
  constexpr std::size_t kRead = 256 << 10;
  for (std::size_t have = answer->size();;) {
    answer->resize(have + kRead);
    ssize_t got = read(fd_, answer->data() + have, kRead);
    if (got < 0 && errno == EINTR) continue;
    answer->resize(have + std::size_t(got > 0 ? got : 0));
    if (got <= 0) break;
    have += std::size_t(got);
  }
  int status = reap();
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return true;
  if (WIFSIGNALED(status))
    snprintf(why, whylen, "leak pass: the snapshot process was killed by signal %d (%s)", WTERMSIG(status),
             sigdescr_np(WTERMSIG(status)));
  else
    snprintf(why, whylen, "leak pass: the snapshot process failed (exit status %d)",
             WIFEXITED(status) ? WEXITSTATUS(status) : -1);
  return false;
}

int Snapshot::reap() {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
  int status = 0;
  while (pid_ > 0 && waitpid(pid_, &status, __WALL) < 0 && errno == EINTR) {
  }
  pid_ = 0;
  return status;
}

Snapshot::~Snapshot() {
  if (pid_ > 0) kill(pid_, SIGKILL);
  reap();
}

}  // namespace stray::rt
