#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz/*.cc) with clang, AddressSanitizer
# and UndefinedBehaviorSanitizer in build-fuzz, replays the saved regression
# inputs, then fuzzes each target from its seeds for SECONDS (default 30).
# Fails on any crash, sanitizer report, foreign exception, hang or huge
# allocation; the input that caused it lands in build-fuzz/artifacts/.
#
#   bash scripts/fuzz.sh [SECONDS]      # needs scripts/setup.sh first (clang, the venv)
#
# Environment: BUILD_DIR (the Release build with the venv; default build),
# FUZZ_DIR (default build-fuzz).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD_DIR:-$repo/build}"
fuzz="${FUZZ_DIR:-$repo/build-fuzz}"
seconds="${1:-30}"
log() { printf '\033[1m[fuzz]\033[0m %s\n' "$*" >&2; }

command -v clang++ >/dev/null || { echo "error: clang++ missing; run scripts/setup.sh first" >&2; exit 1; }
if [ ! -f "$fuzz/build.ninja" ]; then
  log "configuring $fuzz (clang, ASan + UBSan)"
  cmake -S "$repo" -B "$fuzz" -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    "-DCMAKE_CXX_FLAGS=-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined" \
    -DTESSERA_BUILD_FUZZ=ON -DTESSERA_BUILD_TESTS=OFF -DTESSERA_BUILD_BENCH=OFF >/dev/null
fi
log "building the fuzz targets"
cmake --build "$fuzz" -j "$(nproc)" >"$fuzz/build.log" 2>&1 || { tail -n 40 "$fuzz/build.log" >&2; exit 1; }
"$build/venv/bin/python" "$repo/tests/fuzz/make_seeds.py" "$fuzz/seeds"

mkdir -p "$fuzz/artifacts"
# Limits that turn a runaway input into a failure instead of a stalled machine.
limits=(-rss_limit_mb=3000 -malloc_limit_mb=2048 -timeout=20 -artifact_prefix="$fuzz/artifacts/")
# fuzz_tokenizer's vocabularies: SentencePiece and byte-level BPE seeds, and
# the default model's (262k tokens) when setup.sh recorded it.
TESSERA_FUZZ_TOKENIZERS="$fuzz/seeds/model_load/llama.gguf:$fuzz/seeds/model_load/qwen2.gguf"
if [ -f "$build/default-model.txt" ]; then
  TESSERA_FUZZ_TOKENIZERS="$TESSERA_FUZZ_TOKENIZERS:$(cat "$build/default-model.txt")"
fi
export TESSERA_FUZZ_TOKENIZERS
for target in fuzz_model_load fuzz_chat_template fuzz_openai_request fuzz_tokenizer; do
  seeds="$fuzz/seeds/${target#fuzz_}"
  regressions="$repo/tests/fuzz/regressions/$target"
  if [ -d "$regressions" ]; then
    log "$target: replaying $(ls "$regressions" | wc -l) saved inputs"
    "$fuzz/$target" "${limits[@]}" -runs=0 "$regressions" 2>&1 | tail -n 2
  fi
  log "$target: fuzzing for ${seconds}s"
  corpus="$fuzz/corpus/$target"
  mkdir -p "$corpus"
  "$fuzz/$target" "${limits[@]}" -max_total_time="$seconds" -print_final_stats=1 "$corpus" "$seeds" \
    >"$fuzz/$target.log" 2>&1 || { tail -n 60 "$fuzz/$target.log" >&2; exit 1; }
  grep -E "^stat::number_of_executed_units|^Done" "$fuzz/$target.log" | tr '\n' ' ' >&2; echo >&2
done
log "no crash"
