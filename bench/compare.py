#!/usr/bin/env python3
"""Runs stray's benchmarks and their Go twins (bench/go) in one go and prints
a table of stray/Go ratios (below 1: stray is faster or smaller).

Usage: bench/compare.py BUILD_DIR [--min-time SECONDS] [--before OLD_BUILD_DIR]
--before: also runs an older build's benchmarks in the same session and
prints its ratios beside the new ones (a change's before/after table).
Go is $GO, else `go` on PATH; bench/compare.sh installs Go 1.27.
"""
import json
import os
import re
import subprocess
import sys

here = os.path.dirname(os.path.abspath(__file__))


def norm(name):
    name = re.sub(r"^(BM_|Benchmark)", "", name)
    name = name.replace("/real_time", "").replace("/iterations:1", "")
    name = re.sub(r"-\d+$", "", name)
    return name.replace("/", "_")


def run_stray(build, min_time):
    results = {}
    for binary in ("proc_bench", "chan_bench", "select_bench", "sync_bench", "time_bench",
                   "context_bench"):
        out = subprocess.run(
            [os.path.join(build, "bench", binary), "--benchmark_format=json",
             f"--benchmark_min_time={min_time}"],
            check=True, capture_output=True, text=True).stdout
        for b in json.loads(out)["benchmarks"]:
            key = norm(b["name"])
            if "bytes_per_goroutine" in b:
                results[key] = ("B/goroutine", b["bytes_per_goroutine"])
            else:
                results[key] = ("ns/op", b["real_time"])
    return results


def run_go(min_time):
    results = {}
    env = dict(os.environ, GOFLAGS="-mod=mod", GOTOOLCHAIN="local")
    go = os.environ.get("GO", "go")
    cmds = [[go, "test", "-run", "^$", "-bench", "^Benchmark[^P]|^BenchmarkPing",
             f"-benchtime={min_time}s"],
            # Memory: one fresh iteration, as stray's benchmark does.
            [go, "test", "-run", "^$", "-bench", "ParkedMemory", "-benchtime=1x"]]
    for cmd in cmds:
        out = subprocess.run(cmd, cwd=os.path.join(here, "go"), env=env, check=True,
                             capture_output=True, text=True).stdout
        for line in out.splitlines():
            m = re.match(r"^(Benchmark\S+)\s+\d+\s+([\d.]+) ns/op(.*)$", line)
            if not m:
                continue
            key = norm(m.group(1))
            mem = re.search(r"([\d.]+) bytes_per_goroutine", m.group(3))
            results[key] = ("B/goroutine", float(mem.group(1))) if mem else ("ns/op", float(m.group(2)))
    return results


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    build = sys.argv[1]
    min_time = sys.argv[sys.argv.index("--min-time") + 1] if "--min-time" in sys.argv else "1"
    before_build = sys.argv[sys.argv.index("--before") + 1] if "--before" in sys.argv else None
    before = run_stray(before_build, min_time) if before_build else {}
    stray = run_stray(build, min_time)
    go = run_go(min_time)
    extra = f" {'before':>12} {'before/Go':>9}" if before else ""
    print(f"{'benchmark':<22} {'unit':<12} {'stray':>12} {'Go':>12} {'stray/Go':>9}{extra}")
    for key in sorted(set(stray) & set(go)):
        unit, s = stray[key]
        _, g = go[key]
        row = f"{key:<22} {unit:<12} {s:>12.1f} {g:>12.1f} {s / g:>9.2f}"
        if key in before:
            b = before[key][1]
            row += f" {b:>12.1f} {b / g:>9.2f}"
        print(row)
    only = sorted(set(stray) - set(go))
    if only:
        print("stray only (baselines):", ", ".join(f"{k} {stray[k][1]:.0f} {stray[k][0]}" for k in only))


if __name__ == "__main__":
    main()
