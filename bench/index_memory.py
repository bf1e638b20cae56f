#!/usr/bin/env python3
"""Benchmark: peak memory of slimctl's index against the number of paths in the image.

Builds images with N generated files on top of the example base (a Python app's shape: packages
of modules under site-packages, node_modules with package.json and index.js, data files; names
and depths like a real tree), then measures the peak RSS of `slimctl xray` (index only) and of
`slimctl build --no-trace --include /` (index, keep everything, rewrite) read in place and
streamed, and prints, for each step, the peak at each size and the slope between the two
largest sizes: the bytes each further path costs.

Usage: bench/index_memory.py [--slimctl target/release/slimctl] [--files 100000,400000] [--runs 1]
"""
import argparse
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench"))
from index_rewrite import measure, sh  # noqa: E402

# Files spread over a tree the way an app image's are: 100 files a directory, three levels deep.
GENERATE = r"""
import os, sys
n = int(sys.argv[1])
site = "/usr/local/lib/python3.11/site-packages"
kinds = [
    (site + "/package_{a:03d}/submodule_{b:03d}", "module_{i:07d}.py", "import os\nimport json\n\nVALUE = {i}\n"),
    ("/app/node_modules/@scope/library-{a:03d}/lib/part-{b:03d}", "index-{i:07d}.js", "module.exports = require('./x');\n"),
    ("/srv/data/collection-{a:03d}/shard-{b:03d}", "record-{i:07d}.json", '{{"id": {i}, "name": "record"}}\n'),
]
for i in range(n):
    d, f, body = kinds[i % len(kinds)]
    a, b = (i // 10000) % 1000, (i // 100) % 100
    path = d.format(a=a, b=b)
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, f.format(i=i)), "w") as out:
        out.write(body.format(i=i))
"""


def build_image(files):
    tag = f"slimctl-bench/files:{files}"
    if subprocess.run(["docker", "image", "inspect", tag], capture_output=True).returncode == 0:
        return tag
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "gen.py"), "w") as f:
            f.write(GENERATE)
        with open(os.path.join(d, "Dockerfile"), "w") as f:
            f.write("FROM slimctl-examples/debian-python:bookworm\nCOPY gen.py /tmp/gen.py\n"
                    f"RUN python3 /tmp/gen.py {files} && rm /tmp/gen.py\n")
        subprocess.run(["docker", "build", "-q", "-t", tag, d], check=True, stdout=subprocess.DEVNULL,
                       env={**os.environ, "DOCKER_BUILDKIT": "0"})
    return tag


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--slimctl", default=os.path.join(ROOT, "target/release/slimctl"))
    ap.add_argument("--files", default="100000,400000")
    ap.add_argument("--runs", type=int, default=1)
    a = ap.parse_args()
    subprocess.run(["bash", os.path.join(ROOT, "examples/base/build.sh")], check=True, stdout=subprocess.DEVNULL)
    sizes = [int(x) for x in a.files.split(",")]
    rows = {}
    paths = {}
    for n in sizes:
        image = build_image(n)
        paths[n] = int(sh(["docker", "run", "--rm", "--entrypoint", "sh", image, "-c", "find / -xdev | wc -l"]))
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "slim.tar")
            for how, glob in [("in place", []), ("streamed", ["--image-read", "stream"])]:
                cases = [
                    (f"xray (index only), {how}", [a.slimctl, "--no-progress", *glob, "xray", image, "--json"]),
                    (f"build --include / (index + rewrite all), {how}",
                     [a.slimctl, "--no-progress", *glob, "build", image, "--no-trace", "--include", "/",
                      "--output", f"docker-archive:{out}"]),
                ]
                for name, cmd in cases:
                    peaks = []
                    for _ in range(a.runs):
                        if os.path.exists(out):
                            os.remove(out)
                        peaks.append(measure(cmd)[1])
                    rows.setdefault(name, {})[n] = max(peaks)
    hi, lo = sizes[-1], sizes[0]
    print("paths: " + ", ".join(f"{paths[n]:,} ({n:,} generated)" for n in sizes))
    header = "".join(f"{f'MiB at {paths[n]:,}':>16}" for n in sizes)
    print(f"{'step':46}{header}{'bytes/path':>12}")
    for name, by in rows.items():
        slope = (by[hi] - by[lo]) * 1024 * 1024 / max(1, paths[hi] - paths[lo]) if hi != lo else float("nan")
        cells = "".join(f"{by[n]:16.0f}" for n in sizes)
        print(f"{name:46}{cells}{slope:12.0f}")


if __name__ == "__main__":
    main()
