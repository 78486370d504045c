#!/usr/bin/env bash
# Builds and runs the demo: three goroutine leaks and the goroutineleak
# profile that finds them (examples/leaks.cc). Installs its Debian packages
# first.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cmake --preset default >/dev/null
cmake --build --preset default --target leaks
build/default/examples/leaks
