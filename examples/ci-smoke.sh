#!/usr/bin/env bash
# A smoke run of the README's main job that CI can afford: slim the Python example by tracing,
# with the debug build the tests already made, and check the slim image answers.
set -euo pipefail
cd "$(dirname "$0")/.."
source examples/lib.sh
SLIMCTL=${SLIMCTL:-target/debug/slimctl}
bash examples/base/build.sh
DOCKER_BUILDKIT=0 docker build -q -t slimctl-examples/python-http:ci examples/python-http >/dev/null
"$SLIMCTL" --no-progress build slimctl-examples/python-http:ci
answer=$(publish_and_get slimctl-examples/python-http.slim:ci 8080 /health)
docker rmi -f slimctl-examples/python-http.slim:ci slimctl-examples/python-http:ci >/dev/null
[[ "$answer" == '{"ok": true}' ]] || { echo "slim example did not answer: $answer" >&2; exit 1; }
echo "ci smoke: slim python example answers $answer"
