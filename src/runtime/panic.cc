// panic.cc — an exception escaping a goroutine ends the program, as a Go
// panic does: "panic: <what>", a blank line, "goroutine N [running]:", the
// goroutine's stack at the throw, its creation site, exit status 2.
//
// How the stack survives: a goroutine's entry frame has no handler, so the
// C++ runtime finds none during its search phase and calls std::terminate
// *before* unwinding anything; the throwing frames are still on the stack
// when our terminate handler runs. (A noexcept entry would unwind to it
// first and lose them.) The handler is installed when the runtime starts and
// passes plain threads on to the previous handler.
#include <cxxabi.h>
#include <execinfo.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <typeinfo>

#include "runtime/fatal.h"
#include "runtime/panic.h"
#include "runtime/proc.h"
#include "runtime/symbolize.h"
#include "runtime/traceback.h"

namespace stray::rt {
namespace {

std::terminate_handler previous_handler;

std::string exception_text() {
  try {
    std::rethrow_exception(std::current_exception());
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    const std::type_info* t = abi::__cxa_current_exception_type();
    return t ? demangle(t->name()) + " (not derived from std::exception)" : "unknown exception";
  }
}

void on_terminate() {
  G* g = current_goroutine();
  if (!g || !std::current_exception()) {
    if (previous_handler) previous_handler();
    abort();
  }
  std::string what = exception_text();
  fprintf(stderr, "panic: %s\n\ngoroutine %llu [running]:\n", what.c_str(),
          (unsigned long long)g->id);
  uintptr_t pcs[kMaxFrames];
  int n = backtrace(reinterpret_cast<void**>(pcs), kMaxFrames);
  // From the frame that threw (below this handler, std::terminate and
  // __cxa_throw).
  fputs(stack_text(pcs, n, false, n == kMaxFrames, "__cxa_throw").c_str(), stderr);
  if (g->create_pc) fputs(format_created_by(reinterpret_cast<uintptr_t>(g->create_pc), g->parent_id).c_str(), stderr);
  fflush(nullptr);
  _exit(2);
}

}  // namespace

void install_panic_handler() {
  previous_handler = std::set_terminate(on_terminate);
}

}  // namespace stray::rt
