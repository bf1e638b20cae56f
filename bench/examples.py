#!/usr/bin/env python3
"""Benchmark: `slimctl build` (traced, verify on, as by default) on every example, per stage,
next to the floor no slimmer can go below.

The floor of one example = max(`docker save` of the image, the app's own run with its probes)
+ `docker load` of the slim image + the slim image's own run with the same probes. An app's own
run is what `docker run -d -P` + waiting for every port slimctl saw listening to answer (a GET,
a redis PING, a postgres SSLRequest, a MySQL greeting) + the same HTTP requests + `docker rm -f`
costs, or `docker run --rm` for a job that runs to completion. slimctl cannot skip any of these:
it must read the image, run it, load the result and run that. Everything else it does must fit in
the last column (goal: ≤ 1 s).

Each cell is the median of --runs; the slim image is removed before every build, so its load is
real. Peak RSS is slimctl's own (getrusage of the child).
Usage: bench/examples.py [--slimctl target/release/slimctl] [--runs 3] [--only NAME,...]
                         [--global=--image-read=stream]  (slimctl options before `build`)
(needs root, the engine)"""
import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = [
    ("python-http", []),
    ("nginx-static", ["--http-probe-cmd", "GET:/", "--http-probe-cmd", "GET:/no-such-page"]),
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
    ("python-lazy", []),
    ("node-lazy", []),
    ("mariadb", []),
    ("go-api", []),
    ("openapi-api", []),
]
STAGES = ["inspect", "run+trace", "sweep", "select", "collect", "write", "output", "verify"]


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, text=True, capture_output=True, **kw).stdout


def quiet(cmd):
    subprocess.run(cmd, capture_output=True)


def timed(f):
    t = time.perf_counter()
    f()
    return time.perf_counter() - t


def slimctl_build(cmd):
    """Runs slimctl; returns (seconds, report, peak RSS in bytes)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=out, stderr=err)
        _, status, usage = os.wait4(p.pid, 0)
        total = time.perf_counter() - t
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if p.returncode != 0:
            sys.exit(f"{' '.join(cmd)} exited {p.returncode}:\n{err.read().decode()[-2000:]}")
        return total, json.loads(out.read()), usage.ru_maxrss * 1024


def answers(kind, port, deadline):
    """Waits until the app behind host `port` answers as its kind does."""
    while time.time() < deadline:
        try:
            if kind == "http":
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).read()
                except urllib.error.HTTPError:
                    pass  # any status is an answer
                return
            with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                s.settimeout(2)
                if kind == "redis":
                    s.sendall(b"PING\r\n")
                elif kind == "postgres":
                    s.sendall((8).to_bytes(4, "big") + (80877103).to_bytes(4, "big"))
                elif kind == "memcached":
                    s.sendall(b"version\r\n")
                # mysql greets first; an unknown protocol answers once it listens (the proxy
                # in front of a port that nothing listens on closes at once).
                if kind == "other":
                    s.settimeout(0.05)
                    try:
                        if s.recv(1) == b"":
                            raise OSError("closed")
                    except socket.timeout:
                        pass
                    return
                if s.recv(1):
                    return
        except (OSError, urllib.error.URLError):
            pass
        time.sleep(0.02)
    raise SystemExit(f"port {port} never answered ({kind})")


def app_run(image, trace):
    """The app's own run with its probes: what running it costs without slimctl."""
    def run():
        if trace["exited_by_itself"]:
            quiet(["docker", "run", "--rm", image])
            return
        cid = sh(["docker", "run", "-d", "-P", image]).strip()
        try:
            deadline = time.time() + 60
            host = {}
            for r in trace["ready"]:
                out = sh(["docker", "port", cid, f"{r['port']}/tcp"]).split("\n")[0]
                host[r["port"]] = int(out.rsplit(":", 1)[1])
                answers(r["kind"], host[r["port"]], deadline)
            for p in trace["http"]:
                if p["port"] in host:
                    try:
                        urllib.request.urlopen(f"http://127.0.0.1:{host[p['port']]}{p['path']}", timeout=10).read()
                    except urllib.error.HTTPError:
                        pass
        finally:
            quiet(["docker", "rm", "-f", cid])
    return timed(run)


def median(xs):
    return statistics.median(xs)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--slimctl", default=os.path.join(ROOT, "target/release/slimctl"))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--only", default="")
    ap.add_argument("--global", dest="glob", action="append", default=[])
    a = ap.parse_args()
    if not os.path.exists(a.slimctl):
        sys.exit(f"{a.slimctl} missing: cargo build --release -p slimctl")
    only = set(filter(None, a.only.split(",")))
    sh(["bash", os.path.join(ROOT, "examples/base/build.sh")])
    rows = []
    for name, flags in EXAMPLES:
        if only and name not in only:
            continue
        d = os.path.join(ROOT, "examples", name)
        if os.path.exists(os.path.join(d, "prepare.sh")):
            sh(["bash", os.path.join(d, "prepare.sh")])
        tag, slim = f"slimctl-bench/{name}:latest", f"slimctl-bench/{name}.slim:latest"
        sh(["docker", "build", "-q", "-t", tag, d], env={**os.environ, "DOCKER_BUILDKIT": "0"})
        runs, floors = [], []
        with tempfile.TemporaryDirectory() as tmp:
            for _ in range(a.runs):
                quiet(["docker", "rmi", slim])
                total, rep, rss = slimctl_build([a.slimctl, "--no-progress", *a.glob, "build", tag, "--json", *flags])
                # A stage may run more than once (select before the sweep and after it): summed.
                stages = {}
                for s in rep["stages"]:
                    stages[s["name"]] = stages.get(s["name"], 0) + s["seconds"]
                runs.append((total, stages, rss, rep))
                # The floor's parts, measured on their own.
                save = timed(lambda: quiet(["sh", "-c", f"docker save {tag} > /dev/null"]))
                app = app_run(tag, rep["trace"])
                archive = os.path.join(tmp, "slim.tar")
                sh(["docker", "save", "-o", archive, slim])
                quiet(["docker", "rmi", slim])
                load = timed(lambda: sh(["docker", "load", "-i", archive]))
                slim_run = app_run(slim, rep["trace"])
                floors.append((save, app, load, slim_run))
        runs.sort(key=lambda r: r[0])
        total, stages, rss, rep = runs[len(runs) // 2]
        save, app, load, slim_run = (median([f[i] for f in floors]) for i in range(4))
        floor = max(save, app) + load + slim_run
        rows.append((name, rep, stages, total, max(r[2] for r in runs), save, app, load, slim_run, floor))
        quiet(["docker", "rmi", "-f", tag, slim])

    print("| example | original MB | slim MB | " + " | ".join(STAGES)
          + " | total | docker save | app run | docker load | slim run | floor | total − floor | peak RSS MiB |")
    print("|---|---:|---:|" + "---:|" * len(STAGES) + "---:|" * 8)
    for name, rep, stages, total, rss, save, app, load, slim_run, floor in rows:
        cells = " | ".join(f"{stages.get(n, 0):.2f}" for n in STAGES)
        print(f"| {name} | {rep['original']['stored_bytes'] / 1e6:.1f} | {rep['slim']['bytes'] / 1e6:.1f} | {cells} "
              f"| {total:.2f} | {save:.2f} | {app:.2f} | {load:.2f} | {slim_run:.2f} | {floor:.2f} "
              f"| {total - floor:+.2f} | {rss / 2**20:.0f} |")
    in_place = sum(1 for r in rows if r[1]["original"].get("read_in_place"))
    print(f"\n{in_place} of {len(rows)} images read in place in the engine's storage, the others streamed.")
    print("inspect and run+trace overlap (the image is read while the container runs); the floor is"
          " max(docker save, app run) + docker load + slim run.")


if __name__ == "__main__":
    main()
