#!/usr/bin/env bash
# The main job on the bundled example, from a fresh machine: set up, build slimctl, build the
# Python HTTP example image from a local Debian base (no registry), slim it, run the slim image
# and show that it still answers.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
cargo build --release --locked -p slimctl
SLIMCTL=target/release/slimctl

bash examples/base/build.sh
DOCKER_BUILDKIT=0 docker build -q -t slimctl-examples/python-http:latest examples/python-http >/dev/null
echo "built slimctl-examples/python-http:latest"

# Without tracing ([3/5] adds it), name what the app needs: its code and the Python stdlib.
# The entrypoint, its ELF libraries, USER's passwd/group and every library the stdlib's
# extension modules load are added by slimctl's closure.
"$SLIMCTL" build slimctl-examples/python-http:latest --no-trace \
  --include /app --include /usr/lib/python3.11 \
  --exclude /usr/lib/python3.11/test --exclude /usr/lib/python3.11/idlelib \
  --exclude /usr/lib/python3.11/tkinter --exclude /usr/lib/python3.11/ensurepip \
  --exclude /usr/lib/python3.11/lib2to3 --exclude /usr/lib/python3.11/pydoc_data \
  --report target/python-http.slim-report.json

cid=$(docker run -d -p 127.0.0.1::8080 slimctl-examples/python-http.slim:latest)
trap 'docker rm -f "$cid" >/dev/null' EXIT
port=$(docker port "$cid" 8080/tcp | head -n1 | awk -F: '{print $NF}')
for _ in $(seq 50); do
  if answer=$(curl -fsS "http://127.0.0.1:$port/" 2>/dev/null); then break; fi
  sleep 0.2
done
echo "slim image answers on 127.0.0.1:$port: ${answer:?the slim image did not answer}"
docker images --format 'table {{.Repository}}:{{.Tag}}\t{{.Size}}' | grep -E 'REPOSITORY|python-http'
