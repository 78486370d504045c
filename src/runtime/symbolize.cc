// symbolize.cc — see symbolize.h.
#include "runtime/symbolize.h"

#include <cxxabi.h>
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <unordered_map>

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

// Follows DW_AT_abstract_origin and DW_AT_specification to the DIE that
// declares a function (where its name and enclosing scopes are).
Dwarf_Die declaration(Dwarf_Die die) {
  for (int k = 0; k < 8; k++) {
    Dwarf_Attribute a;
    Dwarf_Die next;
    if ((dwarf_attr(&die, DW_AT_abstract_origin, &a) || dwarf_attr(&die, DW_AT_specification, &a)) &&
        dwarf_formref_die(&a, &next))
      die = next;
    else
      break;
  }
  return die;
}

std::string plain_name(Dwarf_Die die) {
  Dwarf_Die d = declaration(die);
  const char* n = dwarf_diename(&d);
  return n ? n : "";
}

// A subprogram's or inlined call's name: its linkage name demangled, else
// its name qualified from the enclosing scopes in the DWARF tree (GCC
// gives inlined-only template instances and lambdas no linkage name).
std::string die_name(Dwarf_Die* die) {
  Dwarf_Attribute attr;
  for (int at : {DW_AT_linkage_name, DW_AT_MIPS_linkage_name}) {
    if (dwarf_attr_integrate(die, at, &attr))
      if (const char* s = dwarf_formstring(&attr)) return demangle(s);
  }
  Dwarf_Die decl = declaration(*die);
  std::string name = plain_name(decl);
  if (name.empty()) return "??";
  // Enclosing scopes, innermost first, up to a function (whose own name is
  // already qualified) or the compile unit.
  Dwarf_Die* scopes = nullptr;
  int n = dwarf_getscopes_die(&decl, &scopes);
  std::string qualified = name;
  for (int i = 1; i < n; i++) {
    int tag = dwarf_tag(&scopes[i]);
    if (tag == DW_TAG_subprogram) {
      std::string fn = die_name(&scopes[i]);
      bool has_params = !fn.empty() && (fn.back() == ')' || fn.ends_with(" const"));
      if (!has_params) fn += "()";
      qualified = fn + "::" + qualified;
      break;
    }
    std::string part = plain_name(scopes[i]);
    if (tag == DW_TAG_namespace) qualified = (part.empty() ? "(anonymous namespace)" : part) + "::" + qualified;
    else if (tag == DW_TAG_class_type || tag == DW_TAG_structure_type || tag == DW_TAG_union_type)
      qualified = (part.empty() ? "{lambda}" : part) + "::" + qualified;
  }
  free(scopes);
  return qualified;
}

// The first function-like scope (a function or an inlined call) among
// scopes[from, n), innermost first.
bool first_function(Dwarf_Die* scopes, int from, int n, Dwarf_Die* out) {
  for (int i = from; i < n; i++) {
    int tag = dwarf_tag(&scopes[i]);
    if (tag == DW_TAG_inlined_subroutine || tag == DW_TAG_subprogram) {
      *out = scopes[i];
      return true;
    }
  }
  return false;
}

// The call site recorded in an inlined call's DIE.
void call_site(Dwarf_Die* cu, Dwarf_Die* inl, Frame* outer) {
  Dwarf_Attribute attr;
  Dwarf_Word file = 0, line = 0;
  if (dwarf_formudata(dwarf_attr(inl, DW_AT_call_file, &attr), &file) == 0) {
    Dwarf_Files* files = nullptr;
    size_t nfiles = 0;
    if (dwarf_getsrcfiles(cu, &files, &nfiles) == 0 && file < nfiles)
      if (const char* name = dwarf_filesrc(files, file, nullptr, nullptr)) {
        outer->file = name;
        // Relative names are relative to the compile unit's directory.
        const char* dir = dwarf_formstring(dwarf_attr(cu, DW_AT_comp_dir, &attr));
        if (name[0] != '/' && dir) outer->file = std::string(dir) + "/" + name;
      }
  }
  if (dwarf_formudata(dwarf_attr(inl, DW_AT_call_line, &attr), &line) == 0) outer->line = int(line);
}

}  // namespace

namespace {
std::vector<Frame> symbolize_locked(uintptr_t pc, bool return_address);
}  // namespace

std::string demangle(const char* name) {
  int status = 0;
  char* d = abi::__cxa_demangle(name, nullptr, nullptr, &status);
  std::string s = (status == 0 && d) ? d : name;
  free(d);
  return s;
}

std::vector<Frame> symbolize(uintptr_t pc, bool return_address) {
  std::lock_guard<std::mutex> lock(mu);
  // Code does not move while its module is loaded: remember every answer,
  // unknown addresses included (each miss re-reads the module list).
  static std::unordered_map<uintptr_t, std::vector<Frame>> cache;  // guarded by mu
  uintptr_t key = pc << 1 | uintptr_t(return_address);
  auto it = cache.find(key);
  if (it == cache.end()) it = cache.emplace(key, symbolize_locked(pc, return_address)).first;
  return it->second;
}

namespace {

std::vector<Frame> symbolize_locked(uintptr_t pc, bool return_address) {
  Dwarf_Addr addr = pc - (return_address ? 1 : 0);
  Frame base;
  base.function = "??";
  base.pc = addr;
  if (!dwfl) report_modules();
  Dwfl_Module* mod = dwfl ? dwfl_addrmodule(dwfl, addr) : nullptr;
  if (dwfl && !mod) {
    report_modules();
    mod = dwfl_addrmodule(dwfl, addr);
  }
  if (!mod) return {base};
  GElf_Off off = 0;
  GElf_Sym sym;
  if (const char* name = dwfl_module_addrinfo(mod, addr, &off, &sym, nullptr, nullptr, nullptr)) {
    base.function = demangle(name);
    base.offset = off + (return_address ? 1 : 0);
    base.entry = addr - off;
  }
  if (Dwfl_Line* line = dwfl_module_getsrc(mod, addr)) {
    int lineno = 0;
    if (const char* file = dwfl_lineinfo(line, nullptr, &lineno, nullptr, nullptr, nullptr)) {
      base.file = file;
      base.line = lineno;
      const char* dir = dwfl_line_comp_dir(line);
      if (file[0] != '/' && dir) base.file = std::string(dir) + "/" + file;
    }
  }
  if (base.file.empty()) {
    Dwarf_Addr start = 0;
    const char* modname = dwfl_module_info(mod, nullptr, &start, nullptr, nullptr, nullptr, nullptr, nullptr);
    if (modname) base.file = modname;
    if (base.function == "??") base.offset = pc - start;
    return {base};
  }
  // Inlined calls (as eu-addr2line -i): the innermost function-like scope
  // at addr, then, while it is an inlined call, the function-like scope
  // around that call; each call's recorded site is the line in its caller.
  std::vector<Frame> frames;
  Dwarf_Addr bias = 0;
  Dwarf_Die* cu = dwfl_module_addrdie(mod, addr, &bias);
  Dwarf_Die* scopes = nullptr;
  int n = cu ? dwarf_getscopes(cu, addr - bias, &scopes) : 0;
  Dwarf_Die fn;
  bool have = first_function(scopes, 0, n, &fn);
  free(scopes);
  Frame cur = base;
  while (have && dwarf_tag(&fn) == DW_TAG_inlined_subroutine && frames.size() < 64) {
    cur.function = die_name(&fn);
    cur.inlined = true;
    frames.push_back(cur);
    cur = base;  // the caller: same pc and offset, line from the call site
    call_site(cu, &fn, &cur);
    Dwarf_Die* outer = nullptr;
    int m = dwarf_getscopes_die(&fn, &outer);  // outer[0] is fn itself
    have = first_function(outer, 1, m, &fn);
    free(outer);
  }
  frames.push_back(cur);
  return frames;
}

}  // namespace

std::string format_frame(const Frame& f) {
  char off[32];
  snprintf(off, sizeof off, " +0x%lx", static_cast<unsigned long>(f.offset));
  std::string s = f.function + "\n\t" + f.file;
  if (f.line > 0) s += ":" + std::to_string(f.line);
  return s + off + "\n";
}

std::string format_created_by(uintptr_t pc, unsigned long long parent) {
  Frame f = symbolize(pc).front();
  std::string site = format_frame(f);
  // Go omits " in goroutine N" when there is no parent goroutine.
  std::string by = "created by " + f.function;
  if (parent) by += " in goroutine " + std::to_string(parent);
  return by + "\n" + site.substr(f.function.size() + 1);  // the file:line line only
}

}  // namespace stray::rt
