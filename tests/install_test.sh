#!/usr/bin/env bash
# Installs stray from a configured build tree into a scratch prefix and builds
# and runs a tiny consumer project that uses find_package(stray).
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
find_package(stray 0.1 REQUIRED)
add_executable(consumer main.cc)
target_link_libraries(consumer PRIVATE stray::stray)
CM
cat > "$work/consumer/main.cc" <<'CC'
#include <stray/stray.h>
#include <cstdio>
int main() {
  auto c = stray::make_chan<int>();
  stray::go([c]() mutable { c.send(41); });
  int v = *c.recv() + 1;
  std::printf("consumer got %d\n", v);
  return v == 42 ? 0 : 1;
}
CC
cmake -S "$work/consumer" -B "$work/consumer/build" -G Ninja -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/consumer/build" >/dev/null
"$work/consumer/build/consumer"
