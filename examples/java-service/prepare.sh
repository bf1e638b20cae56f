#!/usr/bin/env bash
# Compiles the service on the host (javac 17, the JRE in the image is 17 too) into a jar.
set -euo pipefail
cd "$(dirname "$0")"
rm -rf build && mkdir -p build
javac --release 17 -d build src/Service.java
# A fixed entry date: the same sources give the same jar (and the same image layer).
jar --create --date=2024-01-01T00:00:00Z --file service.jar --main-class Service -C build .
rm -rf build
