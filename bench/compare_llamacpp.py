#!/usr/bin/env python3
"""Times tessera against llama.cpp (llama-cpp-python) on the same GGUF files and threads.

Writes a Llama-shaped model with random weights (F16) and llama.cpp's Q4_0, Q4_K_M, Q8_0,
Q5_K_M, Q3_K_M, Q4_1, Q5_1 and Q2_K quantizations of it, then, alternating the two engines,
on each of them, the F16 file itself (--types picks some) and the default Gemma 3 model, at
each thread count, measures prefill (ppN: one batch of N prompt tokens from an empty cache)
and decode (tgN: N single-token steps). Prints every figure and the ratio tessera / llama.cpp (median over the
alternations) as a Markdown table.

  build/venv/bin/python bench/compare_llamacpp.py                # full run (1.1B model)
  build/venv/bin/python bench/compare_llamacpp.py --short        # CI: small model, 1 rep

llama.cpp is timed around llama-cpp-python's eval() (a thin ctypes call per batch; its
overhead is microseconds against milliseconds per token); tessera by its `bench --json`.
"""
import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import time

import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
from random_llama import SHAPES, write_random_llama  # noqa: E402

# The random model's files, by llama.cpp's file type (F16: the written model itself).
QUANTIZATIONS = {"Q4_K_M": "LLAMA_FTYPE_MOSTLY_Q4_K_M", "Q4_0": "LLAMA_FTYPE_MOSTLY_Q4_0",
                 "Q8_0": "LLAMA_FTYPE_MOSTLY_Q8_0", "Q5_K_M": "LLAMA_FTYPE_MOSTLY_Q5_K_M",
                 "Q3_K_M": "LLAMA_FTYPE_MOSTLY_Q3_K_M", "Q4_1": "LLAMA_FTYPE_MOSTLY_Q4_1",
                 "Q5_1": "LLAMA_FTYPE_MOSTLY_Q5_1", "Q2_K": "LLAMA_FTYPE_MOSTLY_Q2_K",
                 "Q6_K": "LLAMA_FTYPE_MOSTLY_Q6_K", "F16": None,
                 "BF16": "LLAMA_FTYPE_MOSTLY_BF16"}

TINYLLAMA = SHAPES["tinyllama"]
SMALL = SHAPES["small"]


def quantize(src: pathlib.Path, dst: pathlib.Path, ftype_name: str) -> None:
    import llama_cpp

    if dst.exists():
        return
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, ftype_name)
    params.nthread = os.cpu_count() or 1
    tmp = dst.with_suffix(".tmp")
    rc = llama_cpp.llama_model_quantize(str(src).encode(), str(tmp).encode(), params)
    if rc != 0:
        raise RuntimeError(f"llama_model_quantize({src} -> {ftype_name}) failed: {rc}")
    tmp.rename(dst)


def time_llamacpp(model: pathlib.Path, n_prompt: int, n_gen: int, threads: int, flash_attn: bool):
    import llama_cpp

    llm = llama_cpp.Llama(
        model_path=str(model), n_ctx=max(n_prompt, n_gen) + 16, n_batch=max(n_prompt, 1),
        n_ubatch=max(n_prompt, 1), n_threads=threads, n_threads_batch=threads, verbose=False,
        flash_attn=flash_attn,
    )
    rng = np.random.default_rng(0)
    vocab = llm.n_vocab()
    # Warm-up: page the weights in.
    llm.eval([int(rng.integers(vocab))])
    out = {}
    if n_prompt:
        llm.reset()
        batch = [int(t) for t in rng.integers(vocab, size=n_prompt)]
        t0 = time.perf_counter()
        llm.eval(batch)
        out["pp"] = n_prompt / (time.perf_counter() - t0)
    if n_gen:
        llm.reset()
        steps = [int(t) for t in rng.integers(vocab, size=n_gen)]
        t0 = time.perf_counter()
        for t in steps:
            llm.eval([t])
        out["tg"] = n_gen / (time.perf_counter() - t0)
    del llm
    return out


def time_tessera(binary: pathlib.Path, model: pathlib.Path, n_prompt: int, n_gen: int,
                 threads: int):
    proc = subprocess.run(
        [str(binary), "bench", "-m", str(model), "-p", str(n_prompt), "-n", str(n_gen),
         "-t", str(threads), "-r", "1", "--json"],
        capture_output=True, text=True, check=True,
    )
    j = json.loads(proc.stdout)
    return {"pp": j["prefill_tok_s"], "tg": j["decode_tok_s"], "share": j["bandwidth_share"],
            "gbps": j["decode_read_gbps"], "weights_read_gbps": j["weights_read_gbps"]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--short", action="store_true", help="small model, 1 alternation (for CI)")
    ap.add_argument("--reps", type=int, default=None, help="alternations (default 3, short 1)")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("-p", "--n-prompt", type=int, default=None)
    ap.add_argument("-n", "--n-gen", type=int, default=None)
    ap.add_argument("--types", default=",".join(QUANTIZATIONS),
                    help="quantizations of the random model to time, comma-separated (default: all)")
    ap.add_argument("--work-dir", default=str(REPO / "build" / "bench-models"))
    ap.add_argument("--binary", default=str(REPO / "build" / "tessera"))
    ap.add_argument("--no-default-model", action="store_true")
    ap.add_argument("--json-out", help="also write the raw figures here")
    ap.add_argument("--llama-fa", choices=["off", "on", "best"], default="best",
                    help="llama.cpp's attention: without / with flash attention (-fa), or both, "
                         "keeping the faster figure of each alternation (default)")
    args = ap.parse_args()

    reps = args.reps or (1 if args.short else 3)
    n_prompt = args.n_prompt if args.n_prompt is not None else (64 if args.short else 512)
    n_gen = args.n_gen if args.n_gen is not None else (16 if args.short else 128)
    threads = [int(t) for t in args.threads.split(",")]
    types = [t for t in args.types.split(",") if t]
    unknown = [t for t in types if t not in QUANTIZATIONS]
    if unknown:
        ap.error(f"unknown --types {', '.join(unknown)}; known: {', '.join(QUANTIZATIONS)}")
    shape = SMALL if args.short else TINYLLAMA
    work = pathlib.Path(args.work_dir)
    work.mkdir(parents=True, exist_ok=True)

    tag = "small" if args.short else "tinyllama"
    f16 = work / f"{tag}-f16.gguf"
    if not f16.exists():
        print(f"writing {f16} ({shape})", file=sys.stderr)
        write_random_llama(f16, shape, seed=1)
    files = {}
    for name in types:
        ftype = QUANTIZATIONS[name]
        dst = work / f"{tag}-{name.lower()}.gguf"
        if ftype is not None:
            print(f"quantizing {dst.name}", file=sys.stderr)
            quantize(f16, dst, ftype)
        files[f"{tag} {name}"] = dst
    if not args.no_default_model:
        sys.path.insert(0, str(REPO / "tests" / "python"))
        from conftest import default_model_path

        files["gemma3-270m Q4_K_M"] = default_model_path()

    binary = pathlib.Path(args.binary)
    results = {}
    for rep in range(reps):
        for label, path in files.items():
            for t in threads:
                print(f"[{rep + 1}/{reps}] {label} t={t}", file=sys.stderr)
                ts = time_tessera(binary, path, n_prompt, n_gen, t)
                fa_modes = {"off": [False], "on": [True], "best": [False, True]}[args.llama_fa]
                timings = [time_llamacpp(path, n_prompt, n_gen, t, fa) for fa in fa_modes]
                lc = {k: max(x[k] for x in timings) for k in timings[0]}
                results.setdefault((label, t), []).append((ts, lc))

    fa_note = {"off": "without", "on": "with", "best": "the faster of with and without"}[args.llama_fa]
    print(f"\npp{n_prompt} / tg{n_gen}, median of {reps} alternation(s); ratio = tessera / llama.cpp "
          f"(llama.cpp {fa_note} flash attention); read GB/s = the rate the same weights are read at, "
          f"without compute, right before and after tessera's decode run (the machine's bandwidth at that moment, or "
          f"its caches' for a model they hold); share of read BW = tessera's decode GB/s over it\n")
    print("| model | size MiB | threads | tessera pp | llama.cpp pp | pp ratio | tessera tg | "
          "llama.cpp tg | tg ratio | decode GB/s | read GB/s | share of read BW |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    raw = []
    for (label, t), runs in results.items():
        med = lambda xs: statistics.median(xs)  # noqa: E731
        ts_pp = med([r[0]["pp"] for r in runs]); lc_pp = med([r[1]["pp"] for r in runs])
        ts_tg = med([r[0]["tg"] for r in runs]); lc_tg = med([r[1]["tg"] for r in runs])
        pp_ratio = med([r[0]["pp"] / r[1]["pp"] for r in runs])
        tg_ratio = med([r[0]["tg"] / r[1]["tg"] for r in runs])
        gbps = med([r[0]["gbps"] for r in runs]); share = med([r[0]["share"] for r in runs])
        read = med([r[0]["weights_read_gbps"] for r in runs])
        size = files[label].stat().st_size / 2**20
        print(f"| {label} | {size:.0f} | {t} | {ts_pp:.1f} | {lc_pp:.1f} | {pp_ratio:.2f} | "
              f"{ts_tg:.1f} | {lc_tg:.1f} | {tg_ratio:.2f} | {gbps:.1f} | {read:.1f} | {100 * share:.0f}% |")
        raw.append(dict(model=label, threads=t, tessera_pp=ts_pp, llamacpp_pp=lc_pp, pp_ratio=pp_ratio,
                        tessera_tg=ts_tg, llamacpp_tg=lc_tg, tg_ratio=tg_ratio, decode_gbps=gbps,
                        weights_read_gbps=read, bandwidth_share=share))
    if args.json_out:
        pathlib.Path(args.json_out).write_text(json.dumps(raw, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
