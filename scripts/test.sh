#!/usr/bin/env bash
# The whole test suite, as CI runs it. Installs its Debian packages first,
# then runs, each as a CMake workflow (configure, build, ctest):
#   asan       ASan+UBSan build: the runtime (core) and leak detector (leak) tests
#   tsan       TSan build: the runtime (core) tests (passes need prompt signals)
#   clang-tsa  clang build with -Wthread-safety as errors (build only)
#   default    RelWithDebInfo: every test, including the install test
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh clang golang-go  # golang-go: the tests read profiles with `go tool pprof`
for preset in asan tsan clang-tsa default; do
  echo "=== $preset ==="
  cmake --workflow --preset "$preset"
done
