#!/usr/bin/env bash
# Builds the benchmarks, installs Go 1.27 if missing (../shared/tools/get-go.sh,
# into /opt/go1.27; Debian's own golang-go 1.19 when that script is absent),
# and prints the stray/Go comparison table and the allocation-path table
# (bench/compare.py; arguments are passed on: --min-time S, --before
# OLD_BUILD_DIR, --alloc-rounds N). Needs about 1.5 GiB free for the leak
# pass over 1 GiB of heap (heap_pass_bench and its Go twin, one at a time).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh python3
if [ -x ../shared/tools/get-go.sh ] || [ -f ../shared/tools/get-go.sh ]; then
  [ -x /opt/go1.27/go/bin/go ] || bash ../shared/tools/get-go.sh 1.27 /opt/go1.27 >/dev/null
  export GO=/opt/go1.27/go/bin/go
else
  scripts/deps.sh golang-go
fi
cmake --preset default >/dev/null
cmake --build --preset default --target proc_bench chan_bench select_bench sync_bench time_bench context_bench \
  heap_pass_bench stall_bench alloc_bench alloc_bench_plain >/dev/null
python3 bench/compare.py build/default "$@"
