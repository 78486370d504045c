// options.cc — parsing the option table (see options.h).
#include "runtime/options.h"

#include <errno.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace stray::rt {
namespace {

[[noreturn]] void bad_value(const char* env, const char* value, const char* want) {
  fprintf(stderr, "stray: %s=\"%s\": want %s\n", env, value, want);
  fflush(stderr);
  _exit(2);
}

int64_t parse_int(const char* env, int64_t dflt, int64_t lo, int64_t hi) {
  const char* v = getenv(env);
  if (!v || !*v) return dflt;
  char* end = nullptr;
  errno = 0;
  long long x = strtoll(v, &end, 10);
  if (*end || errno || x < lo || x > hi) {
    char want[96];
    snprintf(want, sizeof want, "an integer in %lld..%lld", (long long)lo, (long long)hi);
    bad_value(env, v, want);
  }
  return x;
}

bool parse_bool(const char* env, bool dflt) {
  const char* v = getenv(env);
  if (!v || !*v) return dflt;
  if (strcmp(v, "0") == 0) return false;
  if (strcmp(v, "1") == 0) return true;
  bad_value(env, v, "0 or 1");
}

// The choices of a STRAY_CHOICE row, "a|b|c" ("" is a choice: "|help").
std::vector<std::string> choices_of(const char* choices) {
  std::vector<std::string> out;
  for (const char* c = choices;; c++) {
    const char* bar = strchr(c, '|');
    out.emplace_back(c, bar ? bar : c + strlen(c));
    if (!bar) return out;
    c = bar;
  }
}

// The index of the value among the choices; unset or empty is the first.
int parse_choice(const char* env, const char* choices) {
  const char* v = getenv(env);
  if (!v || !*v) return 0;
  std::vector<std::string> all = choices_of(choices);
  for (std::size_t i = 0; i < all.size(); i++)
    if (all[i] == v) return int(i);
  std::string want;
  for (const std::string& c : all) want += (want.empty() ? "" : " or ") + (c.empty() ? std::string("empty") : c);
  bad_value(env, v, want.c_str());
}

// The choices as "`a`, `b`" for a markdown cell; the empty one as "(empty)".
std::string listed(const std::vector<std::string>& choices) {
  std::string out;
  for (const std::string& c : choices) out += (out.empty() ? "" : ", ") + (c.empty() ? "(empty)" : "`" + c + "`");
  return out;
}

Options parse() {
  Options o{};
#define STRAY_INT(field, env, dflt, lo, hi, dflt_text, help) \
  o.field = parse_int(#env, (dflt) < (lo) ? 0 : (dflt), lo, hi);
#define STRAY_BOOL(field, env, dflt, help) o.field = parse_bool(#env, dflt);
#define STRAY_CHOICE(field, env, choices, help) o.field = parse_choice(#env, choices);
#include "runtime/options.inc"
#undef STRAY_INT
#undef STRAY_BOOL
#undef STRAY_CHOICE
  return o;
}

}  // namespace

const Options& options() {
  static const Options o = parse();
  return o;
}

void options_print_help(const Effective* facts, int n) {
  const Options& o = options();
  fprintf(stderr, "stray options (environment variables; the values in effect):\n");
#define STRAY_INT(field, env, dflt, lo, hi, dflt_text, help)                                          \
  fprintf(stderr, "  %-22s %-12s %s [%lld..%lld; default %s]\n", #env,                               \
          o.field ? std::to_string(o.field).c_str() : "default", help, (long long)(lo), (long long)(hi), \
          dflt_text);
#define STRAY_BOOL(field, env, dflt, help) \
  fprintf(stderr, "  %-22s %-12d %s [0 or 1; default %d]\n", #env, int(o.field), help, int(dflt));
#define STRAY_CHOICE(field, env, choices, help) \
  fprintf(stderr, "  %-22s %-12s %s [%s]\n", #env, choices_of(choices)[std::size_t(o.field)].c_str(), help, choices);
#include "runtime/options.inc"
#undef STRAY_INT
#undef STRAY_BOOL
#undef STRAY_CHOICE
  for (int i = 0; i < n; i++) fprintf(stderr, "  %s: %s\n", facts[i].what, facts[i].value.c_str());
  fflush(stderr);
}

std::string options_markdown() {
  std::string out = "| variable | values | default | what it does |\n|---|---|---|---|\n";
  auto row = [&](const char* env, const std::string& values, const std::string& dflt, const char* help) {
    out += "| `" + std::string(env) + "` | " + values + " | " + dflt + " | " + help + " |\n";
  };
#define STRAY_INT(field, env, dflt, lo, hi, dflt_text, help) \
  row(#env, std::string(#lo) + ".." + #hi, dflt_text, help);
#define STRAY_BOOL(field, env, dflt, help) row(#env, "0, 1", std::to_string(int(dflt)), help);
#define STRAY_CHOICE(field, env, choices, help) \
  row(#env, listed(choices_of(choices)), listed({choices_of(choices)[0]}), help);
#include "runtime/options.inc"
#undef STRAY_INT
#undef STRAY_BOOL
#undef STRAY_CHOICE
  return out;
}

}  // namespace stray::rt
