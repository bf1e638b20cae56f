#!/usr/bin/env python3
"""Benchmark: what a protocol probe adds over a plain TCP connect, against the Redis and
PostgreSQL examples (and MariaDB and memcached from Debian's packages with --all), each running
with its port published on 127.0.0.1. Prints a table (median of 3 runs); goal: < 200 ms.
Usage: bench/protocol_probes.py [--all]   (needs the engine; runs `cargo bench`)"""
import argparse
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXTRA = """FROM slimctl-examples/debian-python:bookworm
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \\
    mariadb-server memcached >/dev/null && rm -rf /var/lib/apt/lists/*
"""


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, text=True, capture_output=True, **kw).stdout.strip()


def start(image, port, *args):
    cid = sh(["docker", "run", "-d", "-p", f"127.0.0.1::{port}", *args, image])
    host = sh(["docker", "port", cid, f"{port}/tcp"]).splitlines()[0].rsplit(":", 1)[1]
    return cid, host


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--all", action="store_true", help="also MariaDB and memcached")
    a = ap.parse_args()
    sh(["bash", os.path.join(ROOT, "examples/base/build.sh")])
    env = {**os.environ, "DOCKER_BUILDKIT": "0"}
    for ex in ["redis", "postgres"]:
        sh(["docker", "build", "-q", "-t", f"slimctl-bench/{ex}:latest", os.path.join(ROOT, "examples", ex)], env=env)
    containers, bench_env = [], dict(os.environ)
    try:
        cid, port = start("slimctl-bench/redis:latest", 6379)
        containers.append(cid)
        bench_env["SLIMCTL_BENCH_REDIS_PORT"] = port
        cid, port = start("slimctl-bench/postgres:latest", 5432)
        containers.append(cid)
        bench_env["SLIMCTL_BENCH_POSTGRES_PORT"] = port
        bench_env["POSTGRES_PASSWORD"] = "example-only-password"
        if a.all:
            sh(["docker", "build", "-q", "-t", "slimctl-bench/extra:latest", "-"], input=EXTRA, env=env)
            cid, port = start("slimctl-bench/extra:latest", 11211, "--user", "memcache", "--entrypoint", "memcached")
            containers.append(cid)
            bench_env["SLIMCTL_BENCH_MEMCACHED_PORT"] = port
        time.sleep(5)  # initdb and start-up
        out = subprocess.run(["cargo", "bench", "-q", "-p", "slimctl", "--bench", "protocol_probes"], cwd=ROOT,
                             env=bench_env, text=True, capture_output=True)
        sys.stdout.write(out.stdout)
        if out.returncode != 0:
            sys.exit(out.stderr[-2000:])
    finally:
        for c in containers:
            subprocess.run(["docker", "rm", "-f", c], capture_output=True)


if __name__ == "__main__":
    main()
