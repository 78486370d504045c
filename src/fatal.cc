// fatal.cc — allocation-free error output (see fatal.h).
#include "fatal.h"

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

}  // namespace stray::rt
