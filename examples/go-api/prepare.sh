#!/usr/bin/env bash
# Builds the service on the host (Debian's golang-go; static, stripped: the image gets the
# binary alone).
set -euo pipefail
cd "$(dirname "$0")"
CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags="-s -w" -o go-api .
