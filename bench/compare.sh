#!/usr/bin/env bash
# Builds the benchmarks, installs Go (Debian's golang-go) if missing, and
# prints the stray/Go comparison table (bench/compare.py).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh golang-go python3
cmake --preset default >/dev/null
cmake --build --preset default --target proc_bench chan_bench select_bench sync_bench time_bench context_bench >/dev/null
python3 bench/compare.py build/default "$@"
