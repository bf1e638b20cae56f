#!/usr/bin/env python3
"""Benchmark: `slimctl build` (traced) on every example, per stage, next to the probe time.

Builds each example image (examples/<name>, from the local base), runs the release slimctl with
--json (verify on, as by default) and prints a table: sizes, ratio, seconds per stage, the app's time (from the container's
start to the last probe's answer or its exit, plus stopping it), and the total minus the app's
time: what slimctl itself adds.
Usage: bench/examples.py [--slimctl target/release/slimctl] [--runs 3]   (needs root, the engine)"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = [
    ("python-http", []),
    ("nginx-static", ["--http-probe-crawl", "--http-probe-cmd", "GET:/", "--http-probe-cmd", "GET:/no-such-page"]),
    ("cli-batch", []),
    ("c-http", ["--http-probe-cmd", "GET:/", "--http-probe-cmd", "GET:/greeting"]),
    ("node-http", []),
    ("redis", []),
    ("postgres", []),
    ("python-web", []),
    ("php-apache", []),
    ("ruby-web", []),
    ("perl-report", []),
    ("java-service", []),
]


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, text=True, capture_output=True, **kw).stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--slimctl", default=os.path.join(ROOT, "target/release/slimctl"))
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    if not os.path.exists(a.slimctl):
        sys.exit(f"{a.slimctl} missing: cargo build --release -p slimctl")
    sh(["bash", os.path.join(ROOT, "examples/base/build.sh")])
    rows = []
    for name, flags in EXAMPLES:
        d = os.path.join(ROOT, "examples", name)
        if os.path.exists(os.path.join(d, "prepare.sh")):
            sh(["bash", os.path.join(d, "prepare.sh")])
        tag = f"slimctl-bench/{name}:latest"
        sh(["docker", "build", "-q", "-t", tag, d], env={**os.environ, "DOCKER_BUILDKIT": "0"})
        runs = []
        for _ in range(a.runs):
            t = time.perf_counter()
            rep = json.loads(sh([a.slimctl, "--no-progress", "build", tag, "--json", *flags]))
            total = time.perf_counter() - t
            stages = {s["name"]: s["seconds"] for s in rep["stages"]}
            runs.append((total, stages, rep["trace"]["probe_seconds"] + rep["trace"]["stop_seconds"], rep))
        runs.sort(key=lambda r: r[0])
        total, stages, probe, rep = runs[len(runs) // 2]  # the median run
        rows.append((name, rep["original"]["stored_bytes"], rep["slim"]["bytes"], rep["ratio"], stages, probe, total))
        subprocess.run(["docker", "rmi", "-f", tag, f"slimctl-bench/{name}.slim:latest"], capture_output=True)

    names = ["inspect", "run+trace", "select", "collect", "write", "output", "verify"]
    print("| example | original MB | slim MB | ratio | " + " | ".join(names) + " | app | total | total − app |")
    print("|---|---:|---:|---:|" + "---:|" * len(names) + "---:|---:|---:|")
    for name, o, s, ratio, stages, probe, total in rows:
        cells = " | ".join(f"{stages.get(n, 0):.2f}" for n in names)
        print(f"| {name} | {o / 1e6:.1f} | {s / 1e6:.1f} | {ratio:.1f}× | {cells} | {probe:.2f} | {total:.2f} | {total - probe:.2f} |")


if __name__ == "__main__":
    main()
