#!/usr/bin/env bash
# Builds and runs the demo: a pipeline of goroutines and channels.
# Installs its Debian packages first.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cmake --preset default >/dev/null
cmake --build --preset default --target pipeline
build/default/examples/pipeline
