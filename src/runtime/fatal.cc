// fatal.cc — allocation-free error output (see fatal.h).
#include "runtime/fatal.h"

#include <unistd.h>

#include <cstdlib>
#include <cstring>

namespace stray::rt {

void write_err(const char* s) {
  size_t n = strlen(s);
  while (n > 0) {
    ssize_t w = ::write(2, s, n);
    if (w <= 0) return;
    s += w;
    n -= size_t(w);
  }
}

void write_err_u64(unsigned long long v) {
  char buf[24];
  char* p = buf + sizeof buf;
  *--p = 0;
  do {
    *--p = char('0' + v % 10);
    v /= 10;
  } while (v);
  write_err(p);
}

void fatal(const char* msg) {
  write_err("fatal error: ");
  write_err(msg);
  write_err("\n");
  abort();
}

void fatal_forked_child() {
  write_err(
      "fatal error: stray: runtime used in a child process after fork()\n"
      "stray: the child has only the thread that called fork(), none of the runtime's threads: "
      "exec right after fork() (or use posix_spawn, system, popen), use stray only in the parent, "
      "or fork before the first stray call\n");
  _exit(2);
}

}  // namespace stray::rt
