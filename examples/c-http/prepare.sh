#!/usr/bin/env bash
# Compiles the server on the host (gcc; the image gets the binary, no compiler).
set -euo pipefail
cd "$(dirname "$0")"
gcc -O2 -Wall -o c-http server.c
