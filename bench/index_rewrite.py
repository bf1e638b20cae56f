#!/usr/bin/env python3
"""Benchmark: time and peak memory for slimctl to index and rewrite a ~300 MB image, next to the
floor of reading the image at all (`docker export` of a created container, and `docker save`).

Usage: bench/index_rewrite.py [--slimctl target/release/slimctl] [--runs 3]
Prints a table. The image is built from the local base (examples/base/build.sh) plus a layer that
copies /usr, so it has the shape of a real image (many small files, some large ones)."""
import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

IMAGE = "slimctl-bench/fat:300mb"


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, text=True, capture_output=True, **kw).stdout.strip()


def measure(cmd, stdout=subprocess.DEVNULL):
    """Wall seconds and the peak RSS (MiB) of the command (children are waited one at a time, so
    RUSAGE_CHILDREN's max is this command's when it is the largest so far; we fork a fresh python
    for each measurement to keep it exact)."""
    probe = (
        "import resource,subprocess,sys,time;t=time.perf_counter();"
        "r=subprocess.run(sys.argv[1:],stdout=subprocess.DEVNULL,stderr=subprocess.PIPE);"
        "d=time.perf_counter()-t;"
        "sys.stderr.write(r.stderr.decode()[-2000:]) if r.returncode else None;"
        "print(d,resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,r.returncode)"
    )
    out = sh([sys.executable, "-c", probe, *cmd])
    secs, rss_kb, rc = out.split()
    if rc != "0":
        raise SystemExit(f"{' '.join(cmd)} failed with {rc}")
    return float(secs), int(rss_kb) / 1024


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--slimctl", default="target/release/slimctl")
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    subprocess.run(["bash", os.path.join(root, "examples/base/build.sh")], check=True)
    if subprocess.run(["docker", "image", "inspect", IMAGE], capture_output=True).returncode != 0:
        with tempfile.TemporaryDirectory() as d:
            with open(os.path.join(d, "Dockerfile"), "w") as f:
                f.write("FROM slimctl-examples/debian-python:bookworm\nRUN cp -a /usr /opt/usr-copy\n")
            subprocess.run(["docker", "build", "-q", "-t", IMAGE, d], check=True, env={**os.environ, "DOCKER_BUILDKIT": "0"},
                           stdout=subprocess.DEVNULL)
    size = int(sh(["docker", "image", "inspect", "-f", "{{.Size}}", IMAGE]))
    files = sh(["docker", "run", "--rm", "--entrypoint", "sh", IMAGE, "-c", "find / -xdev | wc -l"])

    cid = sh(["docker", "create", IMAGE])
    rows = {}
    try:
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "slim.tar")
            cases = [
                ("docker export (floor)", ["docker", "export", cid]),
                ("docker save (floor)", ["docker", "save", IMAGE]),
            ]
            for how, glob in [("in place", []), ("streamed", ["--image-read", "stream"])]:
                cases += [
                    (f"slimctl xray (index only), {how}", [a.slimctl, "--no-progress", *glob, "xray", IMAGE, "--json"]),
                    (f"slimctl build: index + rewrite all, {how}",
                     [a.slimctl, "--no-progress", *glob, "build", IMAGE, "--no-trace", "--include", "/",
                      "--output", f"docker-archive:{out}"]),
                    (f"slimctl build: index + rewrite /usr/bin, {how}",
                     [a.slimctl, "--no-progress", *glob, "build", IMAGE, "--no-trace", "--include", "/usr/bin",
                      "--output", f"docker-archive:{out}"]),
                ]
            for _ in range(a.runs):
                for name, cmd in cases:
                    if os.path.exists(out):
                        os.remove(out)
                    rows.setdefault(name, []).append(measure(cmd))
    finally:
        subprocess.run(["docker", "rm", "-f", cid], capture_output=True)

    floor = statistics.median(s for s, _ in rows["docker export (floor)"])
    print(f"image {IMAGE}: {size / 1e6:.0f} MB, {files} paths; median of {a.runs} runs")
    print(f"{'step':42} {'seconds':>8} {'x export':>9} {'peak RSS MiB':>13}")
    for name, vals in rows.items():
        secs = statistics.median(s for s, _ in vals)
        rss = max(r for _, r in vals)
        print(f"{name:42} {secs:8.2f} {secs / floor:9.2f} {rss:13.0f}")


if __name__ == "__main__":
    main()
