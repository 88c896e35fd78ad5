#!/usr/bin/env bash
# Builds llama.cpp's own HTTP server (llama-server), the reference for
# bench/serve_load.py --llama-server. It is the llama.cpp that
# llama-cpp-python vendors, at the version scripts/requirements-test.txt pins,
# taken from that package's source distribution on PyPI (no other download),
# compiled for this CPU with the same flags scripts/test.sh uses.
#
#   bash bench/build_llama_server.sh        # prints the binary's path
#
# Environment: BUILD_DIR (default build). Idempotent: an existing binary is
# reused. Takes ~15 minutes on 2 cores.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD_DIR:-$repo/build}"
venv="$build/venv"
out="$build/llama-server"
binary="$out/build/bin/llama-server"
log() { printf '\033[1m[llama-server]\033[0m %s\n' "$*" >&2; }

if [ -x "$binary" ]; then
  echo "$binary"
  exit 0
fi
[ -x "$venv/bin/pip" ] || { echo "error: $venv missing; run scripts/setup.sh first" >&2; exit 1; }
version="$(sed -n 's/^llama-cpp-python==\([0-9.]*\).*/\1/p' "$repo/scripts/requirements-test.txt")"
[ -n "$version" ] || { echo "error: no llama-cpp-python==VERSION pin in scripts/requirements-test.txt" >&2; exit 1; }

mkdir -p "$out"
if [ ! -d "$out/src" ]; then
  log "fetching the llama-cpp-python $version source distribution (PyPI)"
  "$venv/bin/pip" download -q --disable-pip-version-check --no-deps --no-binary :all: \
    "llama-cpp-python==$version" -d "$out/sdist"
  tmp="$out/src.tmp"
  rm -rf "$tmp" && mkdir -p "$tmp"
  tar xzf "$out/sdist/llama_cpp_python-$version.tar.gz" -C "$tmp"
  mv "$tmp/llama_cpp_python-$version/vendor/llama.cpp" "$out/src"
  rm -rf "$tmp" "$out/sdist"
fi

log "building llama-server (Release, native CPU)"
# As in scripts/test.sh: the VM reports AMX but does not enable it.
no_amx="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
CFLAGS="$no_amx" CXXFLAGS="$no_amx" cmake -S "$out/src" -B "$out/build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DGGML_NATIVE=ON -DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_TESTS=OFF \
  -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_CURL=OFF >/dev/null
cmake --build "$out/build" --target llama-server -j "$(nproc)" >&2
echo "$binary"
