#!/usr/bin/env python3
"""What each coverage rule costs on every example: the slim image's size with every rule on,
the bytes the report attributes to each rule (`bytes_by_reason`, first reason of each path), and
the slim image's size with that rule alone turned off (a rebuild from the traced run's profile,
no verify; the profile holds what the sweep loaded, so that stays). The sweep gets a row of its
own: the bytes it added (`sweep`), and a traced build with `--no-sweep`. Prints a Markdown table
for the README's fidelity section.
Usage: bench/rules.py [--slimctl target/release/slimctl] [--only NAME]   (needs the engine)"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench"))
from examples import EXAMPLES  # noqa: E402  (the same examples and flags as the benchmark)


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, text=True, capture_output=True, **kw).stdout


def build(slimctl, image, tmp, name, *flags):
    rep = os.path.join(tmp, f"{name}.json")
    out = os.path.join(tmp, f"{name}.oci")
    sh([slimctl, "--no-progress", "build", image, "--no-verify", "--output", f"oci:{out}", "--report", rep, *flags])
    return json.load(open(rep))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--slimctl", default=os.path.join(ROOT, "target/release/slimctl"))
    ap.add_argument("--only")
    a = ap.parse_args()
    sh(["bash", os.path.join(ROOT, "examples/base/build.sh")])
    print("| example | slim MB (all rules) | rule | rule's MB | slim MB without it |")
    print("|---|---:|---|---:|---:|")
    for name, flags in EXAMPLES:
        if a.only and name != a.only:
            continue
        d = os.path.join(ROOT, "examples", name)
        if os.path.exists(os.path.join(d, "prepare.sh")):
            sh(["bash", os.path.join(d, "prepare.sh")])
        image = f"slimctl-rules/{name}:latest"
        sh(["docker", "build", "-q", "-t", image, d], env={**os.environ, "DOCKER_BUILDKIT": "0"})
        with tempfile.TemporaryDirectory() as tmp:
            profile = os.path.join(tmp, "p.json")
            full = build(a.slimctl, image, tmp, "all", *flags, "--save-profile", profile)
            size = full["slim"]["bytes"] / 1e6
            costs = {k.split(":", 1)[1]: v for k, v in full["bytes_by_reason"].items() if k.startswith("coverage:")}
            if not costs:
                print(f"| {name} | {size:.1f} | (none) | | |")
            for rule, cost in sorted(costs.items(), key=lambda kv: -kv[1]):
                off = build(a.slimctl, image, tmp, rule, "--from-profile", profile, f"--no-{rule}")
                print(f"| {name} | {size:.1f} | {rule} | {cost / 1e6:.2f} | {off['slim']['bytes'] / 1e6:.1f} |", flush=True)
            swept = full["bytes_by_reason"].get("sweep", 0)
            if swept:
                off = build(a.slimctl, image, tmp, "no-sweep", *flags, "--no-sweep")
                print(f"| {name} | {size:.1f} | (the sweep) | {swept / 1e6:.2f} | {off['slim']['bytes'] / 1e6:.1f} |", flush=True)
        subprocess.run(["docker", "rmi", "-f", image], capture_output=True)


if __name__ == "__main__":
    main()
