#!/usr/bin/env bash
# A CI post-build step with slimctl, as a plain script any pipeline can call after `docker build`:
#   1. slim the freshly built image by tracing it under its probes, verify it (on by default),
#      and gate on size: exit non-zero when the slim image misbehaves or is not small enough;
#   2. save the trace as a profile, a seccomp profile and the JSON report as artifacts;
#   3. show the fast path for the next commit: re-slim from the saved profile without running
#      the app (same digest here, since the image did not change);
#   4. run the slim image under its seccomp profile and check it answers.
# Usage: examples/ci/slim.sh [IMAGE] [ARTIFACTS_DIR]   (defaults: the python-http example, target/ci-artifacts)
set -euo pipefail
cd "$(dirname "$0")/../.."
source examples/lib.sh
SLIMCTL=${SLIMCTL:-target/debug/slimctl}
IMAGE=${1:-}
OUT=${2:-target/ci-artifacts}
mkdir -p "$OUT"

built_here=""
if [[ -z "$IMAGE" ]]; then
  bash examples/base/build.sh
  IMAGE=slimctl-examples/python-http:ci-example
  DOCKER_BUILDKIT=0 docker build -q -t "$IMAGE" examples/python-http >/dev/null
  built_here=1
fi
SLIM="${IMAGE%%:*}.slim:${IMAGE##*:}"

"$SLIMCTL" --no-progress build "$IMAGE" --tag "$SLIM" \
  --report "$OUT/report.json" --save-profile "$OUT/profile.json" --seccomp-profile "$OUT/seccomp.json" \
  --min-ratio 3 --fail-if-larger-than 100MB

# Next commit, same app: no run needed, verify still replays the recorded probes.
"$SLIMCTL" --no-progress build "$IMAGE" --tag "$SLIM-from-profile" --from-profile "$OUT/profile.json" \
  --report "$OUT/report-from-profile.json" >/dev/null
traced_id=$(docker image inspect -f '{{.Id}}' "$SLIM")
profile_id=$(docker image inspect -f '{{.Id}}' "$SLIM-from-profile")
[[ "$traced_id" == "$profile_id" ]] || { echo "from-profile build differs: $traced_id vs $profile_id" >&2; exit 1; }
docker rmi "$SLIM-from-profile" >/dev/null

cid=$(docker run -d --security-opt "seccomp=$OUT/seccomp.json" -p 127.0.0.1::8080 "$SLIM")
cleanup() {
  docker rm -f "$cid" >/dev/null
  # the example's own images only; an image given as argument stays, with its slim version
  [[ -n "$built_here" ]] && docker rmi "$SLIM" "$IMAGE" >/dev/null
  return 0
}
trap cleanup EXIT
port=$(docker port "$cid" 8080/tcp | head -n1 | awk -F: '{print $NF}')
for _ in $(seq 50); do
  if answer=$(curl -fsS "http://127.0.0.1:$port/health" 2>/dev/null); then break; fi
  sleep 0.2
done
[[ "${answer:-}" == '{"ok": true}' ]] || { echo "slim image under seccomp did not answer" >&2; exit 1; }
echo "ci example: $SLIM ($traced_id) verified, answers under its seccomp profile; artifacts in $OUT"
