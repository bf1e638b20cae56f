#!/usr/bin/env bash
# The main job on the bundled example, from a fresh machine: set up, build slimctl, build the
# Python HTTP example image from a local Debian base (no registry), slim it by tracing what it
# uses while it answers HTTP probes, run the slim image and show that it still answers.
set -euo pipefail
cd "$(dirname "$0")/.."
source examples/lib.sh

bash scripts/setup.sh
cargo build --release --locked -p slimctl
SLIMCTL=target/release/slimctl

bash examples/base/build.sh
DOCKER_BUILDKIT=0 docker build -q -t slimctl-examples/python-http:latest examples/python-http >/dev/null
echo "built slimctl-examples/python-http:latest"

# Runs the image under the eBPF sensor, probes GET / on its exposed port, keeps what it used
# (plus the closure: symlinks, parents, ELF libraries, USER's passwd/group) and loads the result.
"$SLIMCTL" build slimctl-examples/python-http:latest --report target/python-http.slim-report.json

answer=$(publish_and_get slimctl-examples/python-http.slim:latest 8080 /)
echo "slim image answers: $answer"
docker images --format 'table {{.Repository}}:{{.Tag}}\t{{.Size}}' | grep -E 'REPOSITORY|python-http'
echo "report (every kept path and why): target/python-http.slim-report.json"
