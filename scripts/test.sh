#!/usr/bin/env bash
# The whole test suite, as CI runs it. Installs its Debian packages first,
# then runs, each as a CMake workflow (configure, build, ctest):
#   asan       ASan+UBSan build: the runtime (core) and leak detector (leak) tests
#   tsan       TSan build: the runtime (core) tests (passes need prompt signals)
#   clang-tsa  clang build with -Wthread-safety as errors (build only)
#   aarch64    AArch64 cross build: the runtime (core) tests under qemu-user
#              (the detector cannot stop the world there: qemu's own threads
#              share the process and do not take guest signals)
#   default    RelWithDebInfo: every test, including the install test
set -euo pipefail
cd "$(dirname "$0")/.."
# golang-go: the tests read profiles with `go tool pprof`
scripts/deps.sh --arm64 clang golang-go
for preset in asan tsan clang-tsa aarch64 default; do
  echo "=== $preset ==="
  cmake --workflow --preset "$preset"
done
