#!/usr/bin/env bash
# Builds the notes stack's images from local files (no registry): the PostgreSQL example, the
# web app and its integration tests. Tags: slimctl-examples/{postgres,notes-web,notes-tests}:latest
set -euo pipefail
cd "$(dirname "$0")/.."
bash base/build.sh
export DOCKER_BUILDKIT=0
docker build -q -t "${DB_IMAGE:-slimctl-examples/postgres:latest}" postgres >/dev/null
docker build -q -t "${WEB_IMAGE:-slimctl-examples/notes-web:latest}" notes-stack/web >/dev/null
docker build -q -t "${TESTS_IMAGE:-slimctl-examples/notes-tests:latest}" notes-stack/tests >/dev/null
echo "built the notes stack's images"
