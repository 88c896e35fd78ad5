#!/usr/bin/env bash
# Runs the whole test suite: C++ unit tests (ctest), the Python tests that
# compare tessera against llama.cpp, and a short fuzzing run of every fuzz
# target (FUZZ_SECONDS each, default 30). Needs scripts/setup.sh first.
#
#   bash scripts/test.sh [extra pytest args]
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD_DIR:-$repo/build}"
venv="$build/venv"
log() { printf '\033[1m[test]\033[0m %s\n' "$*" >&2; }

[ -x "$build/tessera" ] || { echo "error: $build/tessera missing; run scripts/setup.sh first" >&2; exit 1; }
log "installing test packages into $venv (llama-cpp-python compiles llama.cpp the first time)"
# llama.cpp builds for the native CPU. On these machines the CPU reports AMX
# but the VM mostly does not enable its tile state, so ggml's AMX kernels die
# with SIGILL on their first tilezero; on a VM that did enable it (2026-12-03)
# they died with SIGSEGV in ggml_backend_amx_mul_mat. Compile them out
# (explicit -mno-* flags win over -march=native whatever their order). No
# effect on CPUs without AMX.
no_amx="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
CFLAGS="$no_amx" CXXFLAGS="$no_amx" CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" \
  "$venv/bin/pip" install -q --disable-pip-version-check --no-cache-dir \
  -r "$repo/scripts/requirements-test.txt"

log "C++ unit tests"
cmake --build "$build" -j "$(nproc)"
ctest --test-dir "$build" --output-on-failure -j "$(nproc)"

log "Python tests"
cd "$repo"
TESSERA_BUILD="$build" "$venv/bin/python" -m pytest tests/python -q -p no:cacheprovider "$@"

log "fuzzing (docs/testing.md)"
BUILD_DIR="$build" bash "$repo/scripts/fuzz.sh" "${FUZZ_SECONDS:-30}"
