#!/usr/bin/env python3
"""Benchmark: what a Compose stack costs slimctl, next to the engine's own times for the same
containers.

slimctl side: `slimctl build -f examples/notes-stack/compose.yaml --probe-service tests
--no-verify`, whose report gives the stack's start (networks, volume, the database started and
waited healthy: `up`), the target's traced run with its test container (`target run`), and the
removal of the stack (`down`).
By hand with the docker CLI, the same containers: `docker network create` + `docker volume create`
+ `docker run -d` of the database with the same healthcheck, waited healthy (`up`); `docker run -d`
of the web app, waited listening, then the test container (`target run`); `docker rm -f` of both +
`docker network rm` + `docker volume rm` (`down`).
Each cell is the median of --runs. Goal: slimctl's up and down no slower than the engine's.
Usage: bench/stack.py [--slimctl target/release/slimctl] [--runs 3]   (needs root, the engine;
builds the example's images with examples/notes-stack/build.sh first)"""
import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DB = "slimctl-examples/postgres:latest"
WEB = "slimctl-examples/notes-web:latest"
TESTS = "slimctl-examples/notes-tests:latest"
HEALTH = ["--health-cmd", "pg_isready --host=127.0.0.1 --username=postgres", "--health-interval", "500ms",
          "--health-timeout", "5s", "--health-retries", "60"]


def sh(cmd):
    return subprocess.run(cmd, check=True, text=True, capture_output=True).stdout.strip()


def wait(pred, limit=120):
    deadline = time.monotonic() + limit
    while not pred():
        if time.monotonic() > deadline:
            raise SystemExit("timed out")
        time.sleep(0.1)


def by_hand(n):
    net, vol = f"bench-notes-{n}", f"bench-notes-{n}-data"
    t0 = time.perf_counter()
    sh(["docker", "network", "create", net])
    sh(["docker", "volume", "create", vol])
    db = sh(["docker", "run", "-d", "--network", net, "--network-alias", "db", "-e", "POSTGRES_PASSWORD=bench",
             "-v", f"{vol}:/var/lib/postgresql", *HEALTH, DB])
    wait(lambda: sh(["docker", "inspect", "-f", "{{.State.Health.Status}}", db]) == "healthy")
    up = time.perf_counter() - t0
    t1 = time.perf_counter()
    web = sh(["docker", "run", "-d", "--network", net, "--network-alias", "web", "-p", "127.0.0.1::8000",
              "-e", "DATABASE_HOST=db", "-e", "DATABASE_PASSWORD=bench", WEB])
    pid = sh(["docker", "inspect", "-f", "{{.State.Pid}}", web])
    # Listening on 8000 (0x1F40), as slimctl's readiness reads it.
    wait(lambda: ":1F40 00000000:0000 0A" in open(f"/proc/{pid}/net/tcp").read())
    sh(["docker", "run", "--rm", "--network", net, TESTS])
    run = time.perf_counter() - t1
    t2 = time.perf_counter()
    sh(["docker", "rm", "-f", "-v", web, db])
    sh(["docker", "network", "rm", net])
    sh(["docker", "volume", "rm", vol])
    down = time.perf_counter() - t2
    return up, run, down


def with_slimctl(slimctl, n):
    with tempfile.TemporaryDirectory() as d:
        rep = os.path.join(d, "r.json")
        tag = f"bench/notes-web.slim:{n}"
        subprocess.run([slimctl, "build", "-f", os.path.join(ROOT, "examples/notes-stack/compose.yaml"),
                        "--probe-service", "tests", "--no-verify", "--tag", tag, "--report", rep],
                       check=True, capture_output=True)
        subprocess.run(["docker", "rmi", tag], capture_output=True)
        t = json.load(open(rep))["trace"]
        return t["stack"]["up_seconds"], t["run_seconds"], t["stack"]["down_seconds"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--slimctl", default=os.path.join(ROOT, "target/release/slimctl"))
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    subprocess.run(["bash", os.path.join(ROOT, "examples/notes-stack/build.sh")], check=True, capture_output=True)
    # Interleaved, so that a slow minute of the machine weighs on both sides.
    hand, slim = [], []
    for i in range(a.runs):
        hand.append(by_hand(i))
        slim.append(with_slimctl(a.slimctl, i))
    med = lambda rows, i: statistics.median(r[i] for r in rows)
    print("| step | docker CLI, s | slimctl, s | slimctl − docker |")
    print("|---|---:|---:|---:|")
    for i, name in enumerate(["stack up (network, volume, db healthy)", "target run (+ tests)", "stack down"]):
        h, s = med(hand, i), med(slim, i)
        print(f"| {name} | {h:.2f} | {s:.2f} | {s - h:+.2f} |")


if __name__ == "__main__":
    main()
