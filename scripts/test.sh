#!/usr/bin/env bash
# Runs the whole test suite: C++ unit tests (ctest) and the Python tests that
# compare tessera against llama.cpp. Needs scripts/setup.sh first.
#
#   bash scripts/test.sh [extra pytest args]
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD_DIR:-$repo/build}"
venv="$build/venv"
log() { printf '\033[1m[test]\033[0m %s\n' "$*" >&2; }

[ -x "$build/tessera" ] || { echo "error: $build/tessera missing; run scripts/setup.sh first" >&2; exit 1; }
log "installing test packages into $venv (llama-cpp-python compiles llama.cpp the first time)"
CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" "$venv/bin/pip" install -q --disable-pip-version-check \
  -r "$repo/scripts/requirements-test.txt"

log "C++ unit tests"
cmake --build "$build" -j "$(nproc)"
ctest --test-dir "$build" --output-on-failure -j "$(nproc)"

log "Python tests"
cd "$repo"
TESSERA_BUILD="$build" "$venv/bin/python" -m pytest tests/python -q -p no:cacheprovider "$@"
