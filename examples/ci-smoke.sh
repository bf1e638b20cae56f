#!/usr/bin/env bash
# A smoke run of the README's main job that CI can afford: slim the Python example with the
# debug build the tests already made, and check the slim image answers.
set -euo pipefail
cd "$(dirname "$0")/.."
SLIMCTL=${SLIMCTL:-target/debug/slimctl}
bash examples/base/build.sh
DOCKER_BUILDKIT=0 docker build -q -t slimctl-examples/python-http:ci examples/python-http >/dev/null
"$SLIMCTL" --no-progress build slimctl-examples/python-http:ci --no-trace \
  --include /app --include /usr/lib/python3.11 --exclude /usr/lib/python3.11/test
cid=$(docker run -d -p 127.0.0.1::8080 slimctl-examples/python-http.slim:ci)
cleanup() { docker rm -f "$cid" >/dev/null; docker rmi -f slimctl-examples/python-http.slim:ci slimctl-examples/python-http:ci >/dev/null; }
trap cleanup EXIT
port=$(docker port "$cid" 8080/tcp | head -n1 | awk -F: '{print $NF}')
for _ in $(seq 50); do
  if answer=$(curl -fsS "http://127.0.0.1:$port/health" 2>/dev/null); then break; fi
  sleep 0.2
done
[[ "${answer:-}" == '{"ok": true}' ]] || { echo "slim example did not answer: ${answer:-nothing}" >&2; exit 1; }
echo "ci smoke: slim python example answers $answer"
