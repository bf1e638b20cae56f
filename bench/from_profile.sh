#!/usr/bin/env bash
# Benchmark: `slimctl build --from-profile` against a traced build of the same example, with and
# without verify, median of 3 runs each. Usage: bench/from_profile.sh [EXAMPLE] (default python-http)
set -euo pipefail
cd "$(dirname "$0")/.."
EX=${1:-python-http}
SLIMCTL=${SLIMCTL:-target/release/slimctl}
IMG=slimctl-bench/$EX:profile
bash examples/base/build.sh >/dev/null
[[ -x examples/$EX/prepare.sh ]] && bash examples/$EX/prepare.sh
DOCKER_BUILDKIT=0 docker build -q -t "$IMG" "examples/$EX" >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"; docker rmi -f "$IMG" slimctl-bench/$EX.slim:profile >/dev/null 2>&1 || true' EXIT
"$SLIMCTL" --no-progress profile "$IMG" -o "$work/p.json" 2>/dev/null
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
time_it() { local s e; s=$(date +%s%N); "$@" >/dev/null 2>&1; e=$(date +%s%N); awk -v d=$((e - s)) 'BEGIN {printf "%.3f\n", d / 1e9}'; }
row() {
  local name=$1; shift
  local t
  t=$(for _ in 1 2 3; do time_it "$SLIMCTL" --no-progress build "$IMG" "$@"; done | median)
  printf '| %s | %s | %.2f |\n' "$EX" "$name" "$t"
}
echo "| example | build | seconds |"
echo "|---|---|---:|"
row "traced, verify" 
row "from profile, verify" --from-profile "$work/p.json"
row "traced, --no-verify" --no-verify
row "from profile, --no-verify" --from-profile "$work/p.json" --no-verify
