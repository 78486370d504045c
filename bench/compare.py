#!/usr/bin/env python3
"""Runs stray's benchmarks and their Go twins (bench/go) in one go and prints
a table of stray/Go ratios (below 1: stray is faster or smaller), then the
allocation-path table: bench/alloc_bench.cc built with stray's malloc
interposer (tracked, and again with STRAY_HEAP_TRACKING=0) and without
stray (plain glibc), as ratios to plain, and the index's bytes per live
allocation.

Usage: bench/compare.py BUILD_DIR [--min-time SECONDS] [--before OLD_BUILD_DIR]
                        [--alloc-rounds N]
--before: also runs an older build's benchmarks in the same session and
prints its ratios beside the new ones (a change's before/after table).
--alloc-rounds: the three allocation builds run in turn N times (default 3)
and each keeps its fastest CPU time per op (CPU, not wall time: on a shared
machine the others' load deschedules a run; it only ever slows one).
Go is $GO, else `go` on PATH; bench/compare.sh installs Go 1.27.
The leak pass over 1 GiB of heap (heap_pass_bench, about 1.3 GiB) runs
alone, then its Go twin, never both at once. stall_bench (a serving pair's
worst round trip while profiles run: <shape>_stall) and its Go twin run one
process per shape.
"""
import json
import os
import re
import subprocess
import sys

here = os.path.dirname(os.path.abspath(__file__))


def norm(name):
    name = re.sub(r"^(BM_|Benchmark)", "", name)
    name = name.replace("/real_time", "").replace("/process_time", "")
    name = re.sub(r"/iterations:\d+", "", name)
    name = re.sub(r"-\d+$", "", name)
    return name.replace("/", "_")


NS_PER = {"ns": 1, "us": 1e3, "ms": 1e6, "s": 1e9}


def run_json(binary, args, env=None):
    out = subprocess.run([binary, "--benchmark_format=json"] + args, env=env, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)["benchmarks"]


def run_stray(build, min_time):
    results = {}
    # heap_pass_bench times a fixed 3 iterations (min_time does not apply).
    for binary in ("proc_bench", "chan_bench", "select_bench", "sync_bench", "time_bench",
                   "context_bench", "heap_pass_bench"):
        path = os.path.join(build, "bench", binary)
        if not os.path.exists(path):  # an older build (--before) may lack it
            continue
        for b in run_json(path, [f"--benchmark_min_time={min_time}"]):
            key = norm(b["name"])
            if "error_occurred" in b:
                print(f"stray {key}: {b.get('error_message', 'failed')}", file=sys.stderr)
            elif "bytes_per_goroutine" in b:
                results[key] = ("B/goroutine", b["bytes_per_goroutine"])
            else:
                results[key] = ("ns/op", b["real_time"] * NS_PER[b["time_unit"]])
                if binary == "heap_pass_bench":  # and its process CPU time (see run_go)
                    results[key + "_cpu"] = ("CPU ns/op", b["cpu_time"] * NS_PER[b["time_unit"]])
    return results


STALL_SHAPES = ("10000/256/0", "100000/0/0", "10000/256/1")


def run_stall(build):
    """stall_bench, one process per shape (leaked goroutines stay leaked):
    the profile's time, and the worst round trip of the serving pair as
    <key>_stall."""
    results = {}
    path = os.path.join(build, "bench", "stall_bench")
    if not os.path.exists(path):
        return results
    for shape in STALL_SHAPES:
        for b in run_json(path, [f"--benchmark_filter=BM_ServeStall/{shape}/"]):
            key = norm(b["name"])
            results[key] = ("ns/op", b["real_time"] * NS_PER[b["time_unit"]])
            results[key + "_stall"] = ("stall ns", b["stall_ns"])
    return results


def run_alloc(build, min_time, rounds):
    """{key: {column: CPU ns/op}} for the plain, tracked and off columns
    (the fastest of `rounds` runs each, taken in turn), and the index's
    bytes per live allocation and the allocator's stride {key: (B, B)}."""
    bench = os.path.join(build, "bench")
    columns = [("plain", os.path.join(bench, "alloc_bench_plain"), None),
               ("tracked", os.path.join(bench, "alloc_bench"), dict(os.environ, STRAY_HEAP_TRACKING="1")),
               ("off", os.path.join(bench, "alloc_bench"), dict(os.environ, STRAY_HEAP_TRACKING="0"))]
    times, index = {}, {}
    for _ in range(rounds):
        for col, binary, env in columns:
            for b in run_json(binary, [f"--benchmark_min_time={min_time}"], env):
                key = norm(b["name"])
                if key.startswith("IndexBytesPerAlloc"):
                    if col == "tracked":
                        index[key] = (b["index_B_per_alloc"], b["heap_B_per_alloc"])
                    continue
                if col != "plain" and b.get("tracking", 0) != (col == "tracked"):
                    sys.exit(f"alloc_bench ({col}): tracking is {b.get('tracking')}: is the interposer linked?")
                ns = b["cpu_time"] * NS_PER[b["time_unit"]]
                times.setdefault(key, {})
                times[key][col] = min(ns, times[key].get(col, ns))
    return times, index


def run_go(min_time):
    results = {}
    env = dict(os.environ, GOFLAGS="-mod=mod", GOTOOLCHAIN="local")
    go = os.environ.get("GO", "go")
    cmds = [[go, "test", "-run", "^$", "-bench", "^Benchmark[^P]|^BenchmarkPing",
             f"-benchtime={min_time}s"],
            # Memory: one fresh iteration, as stray's benchmark does.
            [go, "test", "-run", "^$", "-bench", "ParkedMemory", "-benchtime=1x"],
            # 1 GiB of heap, set up once per process: three profiles.
            [go, "test", "-run", "^$", "-bench", "^BenchmarkPassLeaked10kHeap1GiB$", "-benchtime=3x"]]
    # The serving pair's stall, one process per shape (as run_stall).
    cmds += [[go, "test", "-run", "^$", "-bench", f"^BenchmarkServeStall/{shape}$", "-benchtime=5x"]
             for shape in STALL_SHAPES]
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
            # Process CPU time per op, where a benchmark reports it (its
            # GC workers on every P): compared with stray's cpu_time.
            cpu = re.search(r"([\d.e+]+) cpu-ns/op", m.group(3))
            if cpu:
                results[key + "_cpu"] = ("CPU ns/op", float(cpu.group(1)))
            stall = re.search(r"([\d.e+]+) stall-ns", m.group(3))
            if stall:
                results[key + "_stall"] = ("stall ns", float(stall.group(1)))
    return results


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    build = sys.argv[1]
    min_time = sys.argv[sys.argv.index("--min-time") + 1] if "--min-time" in sys.argv else "1"
    before_build = sys.argv[sys.argv.index("--before") + 1] if "--before" in sys.argv else None
    rounds = int(sys.argv[sys.argv.index("--alloc-rounds") + 1]) if "--alloc-rounds" in sys.argv else 3
    before = run_stray(before_build, min_time) if before_build else {}
    stray = run_stray(build, min_time)
    stray.update(run_stall(build))
    go = run_go(min_time)
    extra = f" {'before':>12} {'before/Go':>9}" if before else ""
    print(f"{'benchmark':<26} {'unit':<12} {'stray':>12} {'Go':>12} {'stray/Go':>9}{extra}")
    for key in sorted(set(stray) & set(go)):
        unit, s = stray[key]
        _, g = go[key]
        row = f"{key:<26} {unit:<12} {s:>12.1f} {g:>12.1f} {s / g:>9.2f}"
        if key in before:
            b = before[key][1]
            row += f" {b:>12.1f} {b / g:>9.2f}"
        print(row)
    only = sorted(set(stray) - set(go))
    if only:
        print("stray only (baselines):", ", ".join(f"{k} {stray[k][1]:.0f} {stray[k][0]}" for k in only))

    times, index = run_alloc(build, min_time, rounds)
    print()
    print(f"allocation path, CPU ns/op, fastest of {rounds}: plain glibc vs stray's interposer "
          "(tracked, and off: STRAY_HEAP_TRACKING=0)")
    print(f"{'benchmark':<34} {'plain':>9} {'tracked':>9} {'off':>9} {'tracked/plain':>13} {'off/plain':>9}")
    for key in sorted(times):
        t = times[key]
        print(f"{key:<34} {t['plain']:>9.1f} {t['tracked']:>9.1f} {t['off']:>9.1f} "
              f"{t['tracked'] / t['plain']:>13.2f} {t['off'] / t['plain']:>9.2f}")
    for key in sorted(index, key=lambda k: int(k.rsplit("_", 1)[1])):
        idx, stride = index[key]
        print(f"{key:<34} index {idx:.1f} B per live allocation (heap stride {stride:.0f} B)")


if __name__ == "__main__":
    main()
