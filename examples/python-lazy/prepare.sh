#!/usr/bin/env bash
# Compiles fastcalc's C extension on the host (gcc and Debian's Python 3.11 headers, the same
# Python as the image's); the image gets the .so, no compiler.
set -euo pipefail
cd "$(dirname "$0")"
inc=/usr/include/python3.11
[ -f "$inc/Python.h" ] || { echo "python3.11 headers missing: apt-get install python3-dev" >&2; exit 1; }
out=site/fastcalc/_speedups.cpython-311-x86_64-linux-gnu.so
if [ ! -f "$out" ] || [ site/fastcalc/_speedups.c -nt "$out" ]; then
    gcc -O2 -Wall -shared -fPIC -I"$inc" -o "$out" site/fastcalc/_speedups.c
fi
