#!/usr/bin/env python3
"""The slim image id of every example, for checking that a change leaves the output alone.

Builds each example image once (tag slimctl-digests/<name>:latest; kept between runs so that
the originals, and so the slim ids, stay comparable), slims it with `slimctl build` as the
benchmark does (traced, verify on), once more from the profile that build saved, and once with
--no-trace and includes, and prints one line per build: example, mode, slim image id. Run it
before and after a change and diff the two outputs.
Usage: bench/digests.py [--slimctl target/debug/slimctl] [--rebuild-originals] [--only NAME]
                        [--global=--image-read=stream]  (slimctl options before `build`)"""
import argparse
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench"))
from examples import EXAMPLES  # noqa: E402  (the same flags as the benchmark)

NO_TRACE_INCLUDES = ["--include", "/usr/bin/python3", "--include", "/etc/os-release"]


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, text=True, capture_output=True, **kw).stdout.strip()


def image_id(name):
    return sh(["docker", "image", "inspect", "-f", "{{.Id}}", name])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--slimctl", default=os.path.join(ROOT, "target/debug/slimctl"))
    ap.add_argument("--rebuild-originals", action="store_true")
    ap.add_argument("--only")
    ap.add_argument("--global", dest="glob", action="append", default=[])
    a = ap.parse_args()
    sh(["bash", os.path.join(ROOT, "examples/base/build.sh")])
    for name, flags in EXAMPLES:
        if a.only and name != a.only:
            continue
        d = os.path.join(ROOT, "examples", name)
        tag = f"slimctl-digests/{name}:latest"
        present = subprocess.run(["docker", "image", "inspect", tag], capture_output=True).returncode == 0
        if a.rebuild_originals or not present:
            if os.path.exists(os.path.join(d, "prepare.sh")):
                sh(["bash", os.path.join(d, "prepare.sh")])
            sh(["docker", "build", "-q", "-t", tag, d], env={**os.environ, "DOCKER_BUILDKIT": "0"})
        print(f"{name}\toriginal\t{image_id(tag)}", flush=True)
        with tempfile.TemporaryDirectory() as tmp:
            profile = os.path.join(tmp, "p.json")
            builds = [
                ("traced", [*flags, "--save-profile", profile]),
                ("from-profile", ["--from-profile", profile, "--no-verify"]),
                ("no-trace", ["--no-trace", *NO_TRACE_INCLUDES]),
            ]
            for mode, extra in builds:
                out = f"slimctl-digests/{name}.slim:{mode}"
                r = subprocess.run([a.slimctl, "--no-progress", *a.glob, "build", tag, "--tag", out, *extra],
                                   text=True, capture_output=True)
                if r.returncode != 0:
                    print(f"{name}\t{mode}\tFAILED exit {r.returncode}: {r.stderr.strip()[-300:]}", flush=True)
                    continue
                print(f"{name}\t{mode}\t{image_id(out)}", flush=True)
                subprocess.run(["docker", "rmi", "-f", out], capture_output=True)


if __name__ == "__main__":
    main()
