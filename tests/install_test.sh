#!/usr/bin/env bash
# Installs stray from a configured build tree into a scratch prefix and builds
# and runs a tiny consumer project that uses find_package(stray), twice: once
# linking stray::stray (libstray.a), once stray::shared (libstray.so; the
# consumer finds it through the build tree's RPATH, which CMake sets to the
# installed library's directory). Each run also checks that the heap
# interposer works there: a goroutine whose channel only a heap object holds
# is reported leaked; and stray/testing.h's find() honours the program's
# suppression hook (a weak symbol libstray.so must resolve to the program's).
# Usage: tests/install_test.sh BUILD_DIR
set -euo pipefail
build=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake --install "$build" --prefix "$work/prefix" >/dev/null
mkdir -p "$work/consumer"
cat > "$work/consumer/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.25)
project(consumer CXX)
set(STRAY_TARGET stray::stray CACHE STRING "stray::stray or stray::shared")
find_package(stray 0.1 REQUIRED)
add_executable(consumer main.cc)
target_link_libraries(consumer PRIVATE ${STRAY_TARGET})
CM
cat > "$work/consumer/main.cc" <<'CC'
#include <stray/stray.h>
#include <stray/testing.h>
#include <chrono>
#include <cstdio>
#include <thread>

struct Box {
  stray::Chan<int> c;
};

extern "C" const char* stray_leak_suppressions() { return "leak_heap_held\n"; }

// The goroutine's channel is held only by a heap object that only the
// goroutine's closure points to: with the heap attributed (the interposer
// linked in), nothing reachable can wake it.
[[gnu::noinline]] void leak_heap_held() {
  auto* box = new Box{stray::make_chan<int>()};
  stray::go([box] { box->c.recv(); });
}

[[gnu::noinline]] bool blocked_in_recv() {
  for (const auto& g : stray::pprof::goroutines())
    if (g.state == "chan receive") return true;
  return false;
}

int main() {
  auto c = stray::make_chan<int>();
  stray::go([c]() mutable { c.send(41); });
  int v = *c.recv() + 1;
  std::printf("consumer got %d\n", v);
  if (v != 42) return 1;

  leak_heap_held();
  for (int i = 0; !blocked_in_recv(); i++) {
    if (i == 5000) {
      std::printf("the goroutine never blocked\n");
      return 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  auto leaks = stray::pprof::detect_leaks();
  std::printf("heap-held channel: %zu leaked goroutine(s)", leaks.size());
  for (const auto& g : leaks) std::printf(" [%s, created by %s]", g.state.c_str(), g.created_by.function.c_str());
  std::printf("\n");
  auto unexpected = stray::testing::find(stray::testing::max_wait(std::chrono::seconds(0)));
  std::printf("stray::testing::find with the suppression hook: %zu\n", unexpected.size());
  return leaks.size() == 1 && unexpected.empty() ? 0 : 1;
}
CC
for target in stray::stray stray::shared; do
  echo "--- consumer linking $target"
  dir="$work/consumer/build-${target#stray::}"
  cmake -S "$work/consumer" -B "$dir" -G Ninja -DCMAKE_PREFIX_PATH="$work/prefix" -DSTRAY_TARGET="$target" >/dev/null
  cmake --build "$dir" >/dev/null
  # The shared consumer must load the installed libstray.so; the static one none.
  libs=$(ldd "$dir/consumer")
  if [ "$target" = stray::shared ]; then
    [[ $libs == *"libstray.so.0 => $work/prefix/"* ]] || { echo "$libs"; exit 1; }
  else
    [[ $libs != *libstray* ]] || { echo "$libs"; exit 1; }
  fi
  "$dir/consumer"
done
