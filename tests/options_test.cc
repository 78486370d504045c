// options_test — the option table: one policy for bad values, the help
// text, and the README's copy of the table.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "runtime/options.h"
#include "stray/stray.h"
#include "test_util.h"

namespace {

std::string readme_table() {
  std::ifstream in(STRAY_SOURCE_DIR "/README.md");
  std::stringstream all;
  all << in.rdbuf();
  std::string s = all.str();
  const std::string begin = "<!-- options:begin -->\n", end = "<!-- options:end -->";
  std::size_t a = s.find(begin), b = s.find(end);
  if (a == std::string::npos || b == std::string::npos) return "README.md has no options markers";
  return s.substr(a + begin.size(), b - a - begin.size());
}

void start_runtime_and_exit() {
  stray::yield();  // any call starts the runtime
  (void)stray::procs();
  _exit(0);
}

void print_help_and_exit() {
  stray::rt::Effective fact{"stack guards", "madvise"};
  stray::rt::options_print_help(&fact, 1);
  _exit(0);
}

}  // namespace

TEST(Options, TheReadmeShowsTheTable) { EXPECT_EQ(readme_table(), stray::rt::options_markdown()); }

TEST(Options, DefaultsWhenUnset) {
  const stray::rt::Options& o = stray::rt::options();  // ctest sets only STRAY_LEAK_ORACLE
  EXPECT_EQ(o.procs, 0);  // "the CPUs available", chosen by the scheduler
  EXPECT_EQ(o.stack_size, 262144);
  EXPECT_EQ(o.stack_guard, 0);
  EXPECT_TRUE(o.deadlock);
  EXPECT_EQ(o.stop_signal, SIGRTMIN + 4);
  EXPECT_EQ(o.stop_timeout_ms, 1000);
  EXPECT_FALSE(o.leak_verbose);
  EXPECT_EQ(o.help, 0);
}

TEST(Options, BadValuesStopTheProgramNamingTheVariable) {
  STRAY_SKIP_WITHOUT_REEXEC();
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  struct Case {
    const char* env;
    const char* value;
    const char* message;
  } cases[] = {
      {"STRAY_PROCS", "abc", "stray: STRAY_PROCS=\"abc\": want an integer in 1..256"},
      {"STRAY_PROCS", "0", "stray: STRAY_PROCS=\"0\": want an integer in 1..256"},
      {"STRAY_PROCS", "99999999999999999999", "want an integer in 1..256"},
      {"STRAY_STACK_SIZE", "1073741825", "stray: STRAY_STACK_SIZE=\"1073741825\": want an integer in 1..1073741824"},
      {"STRAY_STACK_GUARD", "none", "stray: STRAY_STACK_GUARD=\"none\": want auto or mprotect"},
      {"STRAY_DEADLOCK", "off", "stray: STRAY_DEADLOCK=\"off\": want 0 or 1"},
      {"STRAY_STOP_SIGNAL", "9", "stray: STRAY_STOP_SIGNAL=\"9\": want an integer in [0-9]+..[0-9]+"},
      {"STRAY_STOP_TIMEOUT_MS", "-5", "stray: STRAY_STOP_TIMEOUT_MS=\"-5\": want an integer in 1..3600000"},
      {"STRAY_LEAK_ORACLE", "yes", "stray: STRAY_LEAK_ORACLE=\"yes\": want 0 or 1"},
      {"STRAY_OPTIONS", "halp", "stray: STRAY_OPTIONS=\"halp\": want empty or help"},
  };
  for (const Case& c : cases) {
    setenv(c.env, c.value, 1);
    EXPECT_EXIT((void)stray::rt::options(), ::testing::ExitedWithCode(2), c.message) << c.env << "=" << c.value;
    unsetenv(c.env);
  }
}

TEST(Options, HelpPrintsTheValuesInEffect) {
  STRAY_SKIP_WITHOUT_REEXEC();
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  setenv("STRAY_STOP_TIMEOUT_MS", "250", 1);
  EXPECT_EXIT(print_help_and_exit(), ::testing::ExitedWithCode(0), "STRAY_STOP_TIMEOUT_MS +250 +how long(.|\n)*stack guards: madvise");
  unsetenv("STRAY_STOP_TIMEOUT_MS");
}

TEST(Options, HelpAtStartShowsWhatTheRuntimeChose) {
  STRAY_SKIP_WITHOUT_REEXEC();
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  setenv("STRAY_OPTIONS", "help", 1);
  setenv("STRAY_PROCS", "3", 1);
  EXPECT_EXIT(start_runtime_and_exit(), ::testing::ExitedWithCode(0),
              "STRAY_PROCS +3 (.|\n)*processors: 3\n  stack guards: (madvise|mprotect)");
  unsetenv("STRAY_PROCS");
  unsetenv("STRAY_OPTIONS");
}
