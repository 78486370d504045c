// symbolize.cc — see symbolize.h.
#include "symbolize.h"

#include <cxxabi.h>
#include <elfutils/libdwfl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>

namespace stray::rt {
namespace {

std::mutex mu;
Dwfl* dwfl;  // guarded by mu

char* debuginfo_path = nullptr;
const Dwfl_Callbacks callbacks = {
    dwfl_linux_proc_find_elf,
    dwfl_standard_find_debuginfo,
    nullptr,
    &debuginfo_path,
};

// (Re)reads the process's module list, e.g. after a dlopen.
void report_modules() {
  if (!dwfl) dwfl = dwfl_begin(&callbacks);
  if (!dwfl) return;
  dwfl_report_begin(dwfl);
  dwfl_linux_proc_report(dwfl, getpid());
  dwfl_report_end(dwfl, nullptr, nullptr);
}

}  // namespace

std::string demangle(const char* name) {
  int status = 0;
  char* d = abi::__cxa_demangle(name, nullptr, nullptr, &status);
  std::string s = (status == 0 && d) ? d : name;
  free(d);
  return s;
}

Frame symbolize(const void* pc, bool return_address) {
  Frame f{"??", "", 0, 0};
  Dwarf_Addr addr = reinterpret_cast<Dwarf_Addr>(pc) - (return_address ? 1 : 0);
  std::lock_guard<std::mutex> lock(mu);
  if (!dwfl) report_modules();
  if (!dwfl) return f;
  Dwfl_Module* mod = dwfl_addrmodule(dwfl, addr);
  if (!mod) {
    report_modules();
    mod = dwfl_addrmodule(dwfl, addr);
    if (!mod) return f;
  }
  GElf_Off off = 0;
  GElf_Sym sym;
  if (const char* name = dwfl_module_addrinfo(mod, addr, &off, &sym, nullptr, nullptr, nullptr)) {
    f.function = demangle(name);
    f.offset = off + (return_address ? 1 : 0);
  }
  if (Dwfl_Line* line = dwfl_module_getsrc(mod, addr)) {
    int lineno = 0;
    if (const char* file = dwfl_lineinfo(line, nullptr, &lineno, nullptr, nullptr, nullptr)) {
      f.file = file;
      f.line = lineno;
    }
  }
  if (f.file.empty()) {
    Dwarf_Addr start = 0;
    const char* modname = dwfl_module_info(mod, nullptr, &start, nullptr, nullptr, nullptr, nullptr, nullptr);
    if (modname) f.file = modname;
    if (f.function == "??") f.offset = addr + (return_address ? 1 : 0) - start;
  }
  return f;
}

std::string format_frame(const Frame& f) {
  char off[32];
  snprintf(off, sizeof off, " +0x%lx", static_cast<unsigned long>(f.offset));
  std::string s = f.function + "\n\t" + f.file;
  if (f.line > 0) s += ":" + std::to_string(f.line);
  return s + off + "\n";
}

std::string format_created_by(const void* pc, unsigned long long parent) {
  Frame f = symbolize(pc);
  std::string site = format_frame(f);
  return "created by " + f.function + " in goroutine " + std::to_string(parent) + "\n" +
         site.substr(f.function.size() + 1);  // the file:line line only
}

}  // namespace stray::rt
