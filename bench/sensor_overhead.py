#!/usr/bin/env python3
"""Benchmark: cost of the eBPF sensor for the traced program, and the event rate it sustains.

An open/close loop (sensor/tests/fixtures/fsprobe.c, static) runs untraced and traced:
  - host fs:   `sensor trace` (fresh mount namespace on the host's filesystem: the fastest opens,
               so the worst case for relative overhead);
  - container: inside a container on the engine's storage (fuse-overlayfs here), traced with
               `sensor container` -- the real target;
  - bystander: an untraced host process while the sensor traces something else (the
               system-wide cost of having syscall tracepoints enabled).
Prints a table: ns per iteration untraced/traced, slowdown, events per second, events lost.

Usage: bench/sensor_overhead.py [--sensor target/release/sensor] [--iterations 1000000]
                                [--container-iterations 1000000] [--runs 3]   (needs root)"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IMAGE = "slimctl-bench/fsprobe:latest"


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, text=True, capture_output=True, **kw).stdout.strip()


def ns_per_iter(output):
    m = re.search(r"(\d+) ns/iteration", output)
    if not m:
        sys.exit(f"unexpected loop output: {output!r}")
    return int(m.group(1))


def loop_time(output):
    return float(re.search(r"in ([0-9.]+) s", output).group(1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sensor", default=os.path.join(ROOT, "target/release/sensor"))
    ap.add_argument("--iterations", type=int, default=1_000_000)
    ap.add_argument("--container-iterations", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    if not os.path.exists(a.sensor):
        sys.exit(f"{a.sensor} missing: cargo build --release -p sensor")

    work = tempfile.mkdtemp(prefix="sensor-bench-")
    probe = os.path.join(work, "fsprobe")
    sh(["gcc", "-O2", "-static", "-o", probe, os.path.join(ROOT, "sensor/tests/fixtures/fsprobe.c")])
    target = os.path.join(work, "file")
    open(target, "w").write("x")
    rows = []

    # host fs
    base, traced, rates, lost = [], [], [], 0
    for _ in range(a.runs):
        base.append(ns_per_iter(sh([probe, "loop", str(a.iterations), target])))
        summ = os.path.join(work, "summary.json")
        out = sh([a.sensor, "trace", "--no-events", "--summary-json", summ, "--", probe, "loop", str(a.iterations), target])
        s = json.load(open(summ))
        traced.append(ns_per_iter(out))
        rates.append(s["file_events"] / loop_time(out))
        lost += s["counters"]["ring_full"] + s["counters"]["table_full"]
    rows.append(("host fs, `sensor trace`", a.iterations, statistics.median(base), statistics.median(traced),
                 statistics.median(rates), lost))

    # bystander: untraced host process while the sensor traces an idle command
    bg = subprocess.Popen([a.sensor, "trace", "--no-events", "--", probe, "sleep", "100000"],
                          stderr=subprocess.DEVNULL)
    time.sleep(1.5)
    try:
        during = [ns_per_iter(sh([probe, "loop", str(a.iterations), target])) for _ in range(a.runs)]
    finally:
        bg.terminate()
        bg.wait()
    rows.append(("host process not traced (bystander)", a.iterations, statistics.median(base),
                 statistics.median(during), None, 0))

    # container on the engine's storage driver
    ctx = os.path.join(work, "ctx")
    os.mkdir(ctx)
    sh(["cp", probe, os.path.join(ctx, "fsprobe")])
    open(os.path.join(ctx, "Dockerfile"), "w").write("FROM scratch\nCOPY fsprobe /fsprobe\n")
    sh(["docker", "build", "-q", "-t", IMAGE, ctx], env={**os.environ, "DOCKER_BUILDKIT": "0"})
    cid = sh(["docker", "run", "-d", IMAGE, "/fsprobe", "sleep", "100000"])
    try:
        n = str(a.container_iterations)
        cbase = ns_per_iter(sh(["docker", "exec", cid, "/fsprobe", "loop", n, "/fsprobe"]))
        summ = os.path.join(work, "csummary.json")
        sensor = subprocess.Popen([a.sensor, "container", cid, "--no-events", "--summary-json", summ],
                                  stderr=subprocess.PIPE, text=True)
        time.sleep(1.5)
        out = sh(["docker", "exec", cid, "/fsprobe", "loop", n, "/fsprobe"])
        sh(["docker", "stop", "-t", "1", cid])
        _, err = sensor.communicate(timeout=60)
        if sensor.returncode != 0:
            sys.exit(f"sensor container failed: {err}")
        s = json.load(open(summ))
        rows.append((f"container ({sh(['docker', 'info', '--format', '{{.Driver}}'])}), `sensor container`",
                     a.container_iterations, cbase, ns_per_iter(out), s["file_events"] / loop_time(out),
                     s["counters"]["ring_full"] + s["counters"]["table_full"]))
    finally:
        subprocess.run(["docker", "rm", "-f", cid], capture_output=True)
        subprocess.run(["docker", "rmi", "-f", IMAGE], capture_output=True)
        subprocess.run(["rm", "-rf", work])

    print(f"| open/close loop | iterations | untraced ns/iter | traced ns/iter | slowdown | events/s | lost |")
    print(f"|---|---:|---:|---:|---:|---:|---:|")
    for name, n, b, t, rate, lost in rows:
        r = f"{rate:,.0f}" if rate else "-"
        print(f"| {name} | {n:,} | {b:,.0f} | {t:,.0f} | {100 * (t - b) / b:+.1f}% | {r} | {lost} |")


if __name__ == "__main__":
    main()
