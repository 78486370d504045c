#!/usr/bin/env python3
"""compare_with_go.py — stray's leak-case corpus next to Go's own.

Builds Go's goroutine leak corpus (src/runtime/testdata/testgoroutineleakprofile
and its goker/ folder) with a local Go toolchain, runs every case of Go's
TestGoroutineLeakProfile under Go's own rule, runs stray's `leakcases --table`,
and prints one table:

  case  S/F  stray found/expected  stray unexpected  stray known misses
        Go found/expected  Go unexpected  note

then a summary line and the cases where Go finds more expected sites than
stray.

Go's side follows runtime/goroutineleakprofile_test.go exactly:
* the case list, each case's kind and its expected regular expressions are
  parsed from that file (not copied): makeTest(...) is S, makeFlakyTest(...)
  is F; cases in the slice gokerTestCases run from the goker program, the
  others from the main one;
* S: 3 runs with GOMAXPROCS=1; F: 11 runs (3 with --quick, Go's -short) with
  the default GOMAXPROCS; every run with GODEBUG=asyncpreemptoff=1;
* leaks are extracted from the debug=2 output as extractLeaks does
  ("entry [reason]", the entry two lines above "created by", "main."
  stripped) and matched with the regexps unanchored (Go's MatchString);
* S: every expected regexp must match a leak of some run, and every leak
  must match one; F: every leak must match one ("found" is informational).
Go's regexps are RE2; Python's re reads the ones Go uses here the same way.

stray's side is `leakcases --table` as the build made it (STRAY_LEAK_ORACLE=1,
and STRAY_LEAKCASES_QUICK=1 with --quick). Its expected sites are C++
regexps over C++ names, so the two sides are compared by counts: the table
does not say which of a case's sites stray found.

Usage:
  compare_with_go.py BUILD_DIR [--quick] [--go PATH] [-j N] [--cases REGEX]
                     [--stray-table FILE] [--go-only | --stray-only]

BUILD_DIR is a stray build directory (with tests/leakcases). Exit status: 0,
or 1 when stray reports a leak outside a case's expected set (a false
positive) or a side could not be built or run.
"""

import argparse
import concurrent.futures
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

GO_DEFAULT = "/opt/go1.27/go/bin/go"
CORPUS = "src/runtime/testdata/testgoroutineleakprofile"
TEST_FILE = "src/runtime/goroutineleakprofile_test.go"
RUN_TIMEOUT = 300  # seconds per run of a case, either side


# --- Go's test table, parsed from goroutineleakprofile_test.go -----------


def go_tokens(src):
    """Yields (kind, text, pos) over Go source: 'str' (decoded string
    literal), 'ident', 'punct'; comments skipped."""
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        if src.startswith("//", i):
            j = src.find("\n", i)
            i = n if j < 0 else j
        elif src.startswith("/*", i):
            j = src.find("*/", i + 2)
            i = n if j < 0 else j + 2
        elif c == "`":
            j = src.index("`", i + 1)
            yield "str", src[i + 1 : j], i
            i = j + 1
        elif c == '"':
            j = i + 1
            while src[j] != '"':
                j += 2 if src[j] == "\\" else 1
            yield "str", src[i + 1 : j].encode().decode("unicode_escape"), i
            i = j + 1
        elif c == "'":
            j = i + 1
            while src[j] != "'":
                j += 2 if src[j] == "\\" else 1
            i = j + 1
        elif c.isalpha() or c == "_":
            j = i
            while j < n and (src[j].isalnum() or src[j] == "_"):
                j += 1
            yield "ident", src[i:j], i
            i = j
        elif c.isspace():
            i += 1
        else:
            yield "punct", c, i
            i += 1


class GoCase:
    def __init__(self, name, kind, program, patterns):
        self.name = name
        self.kind = kind  # "S" or "F"
        self.program = program  # "main" or "goker"
        self.patterns = patterns  # regexp strings


def parse_go_cases(test_file):
    """Go's cases in table order. Raises ValueError if none are found."""
    src = open(test_file, encoding="utf-8").read()
    toks = list(go_tokens(src))
    cases, slice_name = [], None
    k = 0
    while k < len(toks):
        kind, text, _ = toks[k]
        # `name := []testCase{` opens a slice of cases.
        if (kind == "ident" and k + 5 < len(toks) and toks[k + 1][1] == ":" and toks[k + 2][1] == "="
                and toks[k + 3][1] == "[" and toks[k + 4][1] == "]" and toks[k + 5][1] == "testCase"):
            slice_name = text
        if kind == "ident" and text in ("makeTest", "makeFlakyTest") and k + 1 < len(toks) and toks[k + 1][1] == "(":
            args, j, ok = [], k + 2, True
            while j < len(toks) and toks[j][1] != ")":
                if toks[j][0] == "str":
                    args.append(toks[j][1])
                elif toks[j][1] != ",":
                    ok = False  # a definition or a call with non-literal arguments
                j += 1
            if ok and args and slice_name:
                program = "goker" if "goker" in slice_name.lower() else "main"
                cases.append(GoCase(args[0], "S" if text == "makeTest" else "F", program, args[1:]))
            k = j
        k += 1
    if not cases:
        raise ValueError(f"no makeTest/makeFlakyTest cases found in {test_file}")
    return cases


# --- Go's side: build, run, extractLeaks, judge ---------------------------

GOROUTINE_HEADER = re.compile(r"goroutine \d+ \[")


def extract_leaks(output):
    """Go's extractLeaks: "entry [reason]" per leaked goroutine, quirks
    included (after the first, headers lose their "goroutine" word to the
    split, so the reason keeps " N " before it; the regexps are unanchored).
    Raises ValueError where Go's test calls t.Fatalf."""
    leaks = []
    for stack in output.split("\n\ngoroutine"):
        lines = stack.split("\n")
        if len(lines) < 5 or "(leaked)" not in lines[0]:
            continue
        reason = GOROUTINE_HEADER.sub("[", lines[0]).replace(" (leaked)", "")
        func = ""
        for i in range(len(lines) - 1, -1, -1):
            if "created by" in lines[i]:
                func = lines[i - 2].removeprefix("main.")
                break
        if not func:
            raise ValueError("failed to extract function name from stack trace: %r" % lines)
        leaks.append(func + " " + reason)
    return leaks


def go_env(go):
    env = {k: v for k, v in os.environ.items() if not k.startswith("GO")}
    env.update(GOTOOLCHAIN="local", GOFLAGS="", GOPROXY="off", GO111MODULE="on")
    for var in ("GOCACHE", "GOPATH", "GOROOT"):
        if var in os.environ:
            env[var] = os.environ[var]
    if "HOME" not in env and "GOCACHE" not in env:
        env["GOCACHE"] = os.path.join(tempfile.gettempdir(), "compare_with_go-gocache")
    return env


def build_go_programs(go, goroot, workdir):
    """Copies Go's two corpus programs into workdir, each with a go.mod, and
    builds them. Returns {"main": exe, "goker": exe}."""
    env = go_env(go)
    version = subprocess.run([go, "env", "GOVERSION"], env=env, capture_output=True, text=True, check=True).stdout
    m = re.match(r"go(\d+\.\d+)", version.strip())
    lang = m.group(1) if m else "1.27"
    src = os.path.join(goroot, CORPUS)
    exes = {}
    for program, sub in (("main", ""), ("goker", "goker")):
        d = os.path.join(workdir, program)
        shutil.copytree(os.path.join(src, sub) if sub else src, d, ignore=shutil.ignore_patterns("goker"))
        if not os.path.exists(os.path.join(d, "go.mod")):
            with open(os.path.join(d, "go.mod"), "w") as f:
                f.write(f"module testgoroutineleakprofile{'/' + sub if sub else ''}\n\ngo {lang}\n")
        exe = os.path.join(workdir, program + ".exe")
        r = subprocess.run([go, "build", "-o", exe, "."], cwd=d, env=env, capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"go build of {program} failed:\n{r.stdout}{r.stderr}")
        exes[program] = exe
    return exes


class Verdict:
    def __init__(self):
        self.runs = 0
        self.found = set()  # indexes of patterns matched by some leak
        self.unexpected = []  # leaks matching no pattern
        self.errors = []  # failed runs


def run_go_case(case, exe, quick, go):
    v = Verdict()
    v.runs = 3 if case.kind == "S" or quick else 11
    env = go_env(go)
    env.pop("GOMAXPROCS", None)
    env["GODEBUG"] = "asyncpreemptoff=1"
    if case.kind == "S":
        env["GOMAXPROCS"] = "1"
    if quick:
        env["RUNTIME_TEST_SHORT"] = "1"  # as Go's test does with -short
    try:
        patterns = [re.compile(p) for p in case.patterns]
    except re.error as e:
        v.errors.append(f"cannot read a regexp as Python's: {e}")
        return v
    output = ""
    for r in range(v.runs):
        try:
            p = subprocess.run([exe, case.name], env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT)
            out, rc = p.stdout + p.stderr, p.returncode
        except subprocess.TimeoutExpired as e:
            out = (e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
            rc = "timeout"
        if not out:
            v.errors.append(f"run {r + 1} produced no output")
        if rc != 0:
            v.errors.append(f"run {r + 1} exited with {rc}")
        output += out + "\n\n"
    try:
        leaks = extract_leaks(output)
    except ValueError as e:
        v.errors.append(str(e))
        return v
    for leak in leaks:
        for i, p in enumerate(patterns):
            if p.search(leak):
                v.found.add(i)
                break
        else:
            v.unexpected.append(leak)
    return v


# --- stray's side -------------------------------------------------------

STRAY_ROW = re.compile(r"^(\S+)\s+([SF])\s+(\d+)/(\d+)\s+(\d+)\s+(\d+)\s+(pass|FAIL)(.*)$")


class StrayRow:
    def __init__(self, m):
        self.name, self.kind = m.group(1), m.group(2)
        self.found, self.expected = int(m.group(3)), int(m.group(4))
        self.known, self.unexpected = int(m.group(5)), int(m.group(6))
        self.ok = m.group(7) == "pass"  # leakcases.cc's own verdict
        self.failed_run = "run failed" in m.group(8)

    def passes(self):
        return self.ok


def stray_table(build_dir, quick, table_file):
    if table_file:
        text = open(table_file, encoding="utf-8").read()
    else:
        exe = os.path.join(build_dir, "tests", "leakcases")
        if not os.access(exe, os.X_OK):
            raise RuntimeError(f"{exe}: not built (cmake --build {build_dir} --target leakcases)")
        env = dict(os.environ, STRAY_LEAK_ORACLE="1")
        env.pop("STRAY_LEAKCASES_QUICK", None)
        if quick:
            env["STRAY_LEAKCASES_QUICK"] = "1"
        p = subprocess.run([exe, "--table"], env=env, capture_output=True, text=True)
        text = p.stdout
        if not any(STRAY_ROW.match(line) for line in text.splitlines()):
            raise RuntimeError(f"{exe} --table printed no table (exit {p.returncode}):\n{p.stdout}{p.stderr}")
    rows = {}
    for line in text.splitlines():
        m = STRAY_ROW.match(line)
        if m:
            rows[m.group(1)] = StrayRow(m)
    return rows


# --- The merged table ----------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("build_dir", help="stray build directory (with tests/leakcases)")
    ap.add_argument("--quick", action="store_true", help="3 runs of an F case on both sides (Go's -short)")
    ap.add_argument("--go", default=GO_DEFAULT, help=f"the go command (default {GO_DEFAULT})")
    ap.add_argument("-j", "--jobs", type=int, default=1, help="Go cases run at once (default 1)")
    ap.add_argument("--cases", help="only cases whose name matches this regexp")
    ap.add_argument("--stray-table", metavar="FILE", help="read a saved `leakcases --table` output instead of running it")
    side = ap.add_mutually_exclusive_group()
    side.add_argument("--go-only", action="store_true")
    side.add_argument("--stray-only", action="store_true")
    args = ap.parse_args()
    only = re.compile(args.cases) if args.cases else None
    status = 0
    started = time.monotonic()

    go_cases, go_verdicts = [], {}
    if not args.stray_only:
        goroot = subprocess.run([args.go, "env", "GOROOT"], env=go_env(args.go), capture_output=True, text=True,
                                check=True).stdout.strip()
        go_cases = [c for c in parse_go_cases(os.path.join(goroot, TEST_FILE)) if not only or only.search(c.name)]
        with tempfile.TemporaryDirectory(prefix="compare_with_go-") as work:
            try:
                exes = build_go_programs(args.go, goroot, work)
            except (RuntimeError, subprocess.CalledProcessError, OSError) as e:
                print(f"compare_with_go: {e}", file=sys.stderr)
                return 1
            t0 = time.monotonic()
            with concurrent.futures.ThreadPoolExecutor(max(1, args.jobs)) as pool:
                futures = {c.name: pool.submit(run_go_case, c, exes[c.program], args.quick, args.go) for c in go_cases}
                for c in go_cases:
                    go_verdicts[c.name] = futures[c.name].result()
            go_seconds = time.monotonic() - t0

    stray_rows = {}
    if not args.go_only:
        t0 = time.monotonic()
        try:
            stray_rows = stray_table(args.build_dir, args.quick, args.stray_table)
        except (RuntimeError, OSError) as e:
            print(f"compare_with_go: {e}", file=sys.stderr)
            return 1
        stray_seconds = time.monotonic() - t0
        stray_rows = {k: v for k, v in stray_rows.items() if not only or only.search(k)}

    # Rows: Go's order, then stray's cases Go does not have.
    names = [c.name for c in go_cases] + [n for n in stray_rows if n not in go_verdicts]
    by_name = {c.name: c for c in go_cases}
    header = ["case", "S/F", "stray", "unexpected", "known misses", "Go", "unexpected", "note"]
    rows, go_ahead = [], []
    for name in names:
        c, v, s = by_name.get(name), go_verdicts.get(name), stray_rows.get(name)
        notes = []
        kind = c.kind if c else s.kind
        if c and s and c.kind != s.kind:
            kind = f"{c.kind}/{s.kind}"
            notes.append(f"Go runs it {c.kind}, stray {s.kind}")
        if s:
            stray_cols = [f"{s.found}/{s.expected}", str(s.unexpected), str(s.known)]
            if s.unexpected:
                notes.append("stray FALSE POSITIVE")
            elif not s.passes():
                notes.append("stray FAILS")
            if s.failed_run:
                notes.append("a stray run failed")
            if s.unexpected:
                status = 1
        else:
            stray_cols = ["-", "-", "-"]
            if not args.go_only:
                notes.append("Go only")
        if v is not None:
            go_cols = [f"{len(v.found)}/{len(c.patterns)}", str(len(v.unexpected))]
            go_fails = bool(v.unexpected or v.errors or (c.kind == "S" and len(v.found) < len(c.patterns)))
            if go_fails:
                notes.append("Go FAILS")
            if v.errors:
                notes.append("a Go run failed: " + v.errors[0])
        else:
            go_cols = ["-", "-"]
            if not args.stray_only:
                notes.append("stray only")
        rows.append([name, kind] + stray_cols + go_cols + ["; ".join(notes)])
        if s and v is not None and len(v.found) > s.found:
            go_ahead.append((name, c, v, s))

    widths = [max(len(r[i]) for r in rows + [header]) for i in range(len(header) - 1)]

    def line(r):
        left = [r[0].ljust(widths[0]), r[1].ljust(widths[1])]
        stray = [r[i].rjust(widths[i]) for i in (2, 3, 4)]
        go = [r[i].rjust(widths[i]) for i in (5, 6)]
        return (" ".join(left) + " | " + " ".join(stray) + " | " + " ".join(go) + " | " + r[7]).rstrip()

    print(line(header))
    for r in rows:
        print(line(r))
    print("(found: expected sites seen in some run / expected sites; unexpected: reports matching no expected\n"
          " site, for stray a false positive; known misses: stray's expected sites it does not find yet)")

    # Summary.
    both = [n for n in names if n in stray_rows and n in go_verdicts]
    parts = [f"{len(names)} cases ({len(both)} on both sides)"]
    if stray_rows:
        sr = [stray_rows[n] for n in names if n in stray_rows]
        parts.append("stray: %d/%d sites found, %d unexpected, %d known misses, %d of %d cases pass (%.0f s)" % (
            sum(r.found for r in sr), sum(r.expected for r in sr), sum(r.unexpected for r in sr),
            sum(r.known for r in sr), sum(r.passes() for r in sr), len(sr), stray_seconds))
    if go_verdicts:
        gv = [(by_name[n], go_verdicts[n]) for n in names if n in go_verdicts]
        go_pass = sum(not (v.unexpected or v.errors or (c.kind == "S" and len(v.found) < len(c.patterns))) for c, v in gv)
        parts.append("Go: %d/%d sites found, %d unexpected, %d of %d cases pass (%.0f s)" % (
            sum(len(v.found) for _, v in gv), sum(len(c.patterns) for c, _ in gv),
            sum(len(v.unexpected) for _, v in gv), go_pass, len(gv), go_seconds))
    print("\nsummary: " + "; ".join(parts) + ("; quick" if args.quick else "") +
          " (%.0f s in all)" % (time.monotonic() - started))

    if both:
        print(f"\nGo finds more expected sites than stray in {len(go_ahead)} of {len(both)} cases:")
        for name, c, v, s in go_ahead:
            seen = ", ".join(c.patterns[i] for i in sorted(v.found))
            print(f"  {name} ({c.kind}): Go {len(v.found)}/{len(c.patterns)}, stray {s.found}/{s.expected}"
                  f" ({s.known} known misses); Go found {seen}")

    for name in names:
        v = go_verdicts.get(name)
        if v and v.unexpected:
            print(f"\nGo's unexpected leaks in {name}:\n  " + "\n  ".join(sorted(set(v.unexpected))))
    return status


if __name__ == "__main__":
    sys.exit(main())
