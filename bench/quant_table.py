#!/usr/bin/env python3
"""The quantization table: every method x type on one model, against its own
weights as F16, with llama.cpp's quantizations of the same F16 as anchors.

    build/venv/bin/python bench/quant_table.py --work /tmp/quant [--rows rtn-Q4_0,llama-Q4_0] [--threads 2]

For each row: bits per weight (all tensors, and the quantized matrices alone),
file size, KL divergence (mean, p99) and top-1 agreement against the F16
baseline's log-probabilities, perplexity (first --chunks windows of --ctx tokens
of wiki.test.raw), prefill / decode tok/s (tessera bench). Results are cached per
row in WORK/results.json, so an interrupted run continues; the markdown table and
an SVG chart (KL vs bits per weight) are written at the end.
"""
import argparse
import json
import math
import os
import pathlib
import subprocess
import re
import sys

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "python"))

# label -> ("tessera", quantize args) or ("llama", LLAMA_FTYPE suffix)
ROWS = {}
for method in ("rtn", "mse"):
    for qtype in ("Q8_0", "Q5_0", "Q5_1", "Q4_0", "Q4_1", "Q4_K"):
        ROWS[f"{method}-{qtype}"] = ("tessera", ["--method", method, "--type", qtype])
    ROWS[f"{method}-Q4_0-g128"] = ("tessera", ["--method", method, "--type", "Q4_0", "--group", "128"])
    ROWS[f"{method}-3bit-in-Q4_0"] = ("tessera", ["--method", method, "--type", "Q4_0", "--bits", "3"])
    ROWS[f"{method}-Q4_0-embdQ4_0"] = ("tessera", ["--method", method, "--type", "Q4_0", "--embd-type", "Q4_0"])
    ROWS[f"{method}-Q4_1-embdQ4_1"] = ("tessera", ["--method", method, "--type", "Q4_1", "--embd-type", "Q4_1"])
for qtype in ("Q4_0", "Q4_1", "Q5_0"):
    ROWS[f"gptq-{qtype}"] = ("tessera", ["--method", "gptq", "--type", qtype, "--calib", "{calib}"])
    ROWS[f"mse-imatrix-{qtype}"] = ("tessera", ["--method", "mse", "--type", qtype, "--calib", "{calib}"])
for method in ("dabc", "mdqfo", "awq"):
    for qtype in ("Q4_0", "Q4_1", "Q4_K"):
        ROWS[f"{method}-{qtype}"] = ("tessera", ["--method", method, "--type", qtype, "--calib", "{calib}"])
    ROWS[f"{method}-3bit-in-Q4_0"] = ("tessera", ["--method", method, "--type", "Q4_0", "--bits", "3",
                                                  "--calib", "{calib}"])
ROWS["dabc-Q4_0-nocalib"] = ("tessera", ["--method", "dabc", "--type", "Q4_0"])
# dabc's calibrated grids and masks without its output bias (quantize --no-bias).
for method in ("dabc", "mdqfo"):
    ROWS[f"{method}-nobias-Q4_0"] = ("tessera", ["--method", method, "--type", "Q4_0", "--calib", "{calib}",
                                                 "--no-bias"])
ROWS["gptq-3bit-in-Q4_0"] = ("tessera", ["--method", "gptq", "--type", "Q4_0", "--bits", "3", "--calib", "{calib}"])
ROWS["mse-imatrix-Q4_K"] = ("tessera", ["--method", "mse", "--type", "Q4_K", "--calib", "{calib}"])
# llama.cpp's Q4_K_M recipe (Q6_K for the output and some attn_v / ffn_down),
# the blocks filled by tessera's methods: the same types and size as llama-Q4_K_M.
ROWS["mse-Q4_K_M"] = ("tessera", ["--method", "mse", "--type", "Q4_K_M"])
for method in ("mse", "awq", "dabc"):
    label = "mse-imatrix-Q4_K_M" if method == "mse" else f"{method}-Q4_K_M"
    ROWS[label] = ("tessera", ["--method", method, "--type", "Q4_K_M", "--calib", "{calib}"])
# QuaRot-style rotation (quantize --rotate 128): the layer matrices stored as
# W H, their inputs rotated by the engine; for the W4A4 rows (ROW+A4g32).
for method, label in (("mse", "mse-imatrix"), ("gptq", "gptq"), ("awq", "awq")):
    ROWS[f"rot-{label}-Q4_0"] = ("tessera", ["--method", method, "--type", "Q4_0", "--rotate", "128",
                                             "--calib", "{calib}"])
ROWS["rot-F16"] = ("tessera", ["--method", "none", "--type", "F16", "--rotate", "128"])
ROWS["rot-mse-Q4_0"] = ("tessera", ["--method", "mse", "--type", "Q4_0", "--rotate", "128"])
# Per-channel weights (quantize --per-channel: one scale per output row, in
# standard blocks with equal scales): the quality side of APEX4's granularity
# question; "+A8tok" on top gives per-token 8-bit activations (W4A8 per channel /
# per token, the integer-only GEMM's numerics).
for label, method, calib in (("rtn", "rtn", False), ("mse", "mse", False), ("mse-imatrix", "mse", True),
                             ("gptq", "gptq", True), ("awq", "awq", True)):
    ROWS[f"{label}-Q4_0-perchannel"] = ("tessera", ["--method", method, "--type", "Q4_0", "--per-channel",
                                                    *(["--calib", "{calib}"] if calib else [])])
for method, label in (("mse", "mse-imatrix"), ("gptq", "gptq"), ("awq", "awq")):
    ROWS[f"rot-{label}-Q4_0-perchannel"] = ("tessera", ["--method", method, "--type", "Q4_0", "--per-channel",
                                                        "--rotate", "128", "--calib", "{calib}"])
ROWS["mse-Q8_0-perchannel"] = ("tessera", ["--method", "mse", "--type", "Q8_0", "--per-channel"])
ROWS["rot-mse-Q8_0-perchannel"] = ("tessera", ["--method", "mse", "--type", "Q8_0", "--per-channel",
                                               "--rotate", "128"])
# "-tok": the same files asking for per-token activation scales (quantize
# --per-token-activations): tessera runs them on its row-scaled integer kernels,
# so these rows measure that path's real quality and speed (W4A8 / W8A8).
for label in ("mse-Q8_0", "rot-mse-Q8_0", "rot-mse-imatrix-Q4_0", "rot-gptq-Q4_0", "rot-awq-Q4_0"):
    tool, args = ROWS[f"{label}-perchannel"]
    ROWS[f"{label}-perchannel-tok"] = (tool, [*args, "--per-token-activations"])
for avg in ("4.5", "3.5"):
    for order in ("alpha-low", "alpha-high", "uniform"):
        ROWS[f"alphaq-mse-{avg}-{order}"] = ("tessera", ["--method", "mse", "--avg-bits", avg, "--alloc", order])
        # The same allocation stored in K types (quantize --alloc-types k): 3 and 4
        # bits as Q3_K and Q4_K at their own sizes (rows not a multiple of 256 fall back).
        ROWS[f"alphaq-mse-{avg}-{order}-k"] = ("tessera", ["--method", "mse", "--avg-bits", avg, "--alloc", order,
                                                           "--alloc-types", "k"])
for qtype in ("Q2_K", "Q3_K", "Q5_K"):
    for method in ("rtn", "mse"):
        ROWS[f"{method}-{qtype}"] = ("tessera", ["--method", method, "--type", qtype])
# llama.cpp's anchors: its own mixes of the same F16 file (llama_model_quantize,
# default parameters, no imatrix). The Q8_0, Q5_0, Q4_0, Q4_K (both the
# _S and _M mixes), Q3_K (_M) and Q2_K. A mix's per-tensor types are llama.cpp's
# choice (rows not a multiple of 256 fall back to legacy types); `layer_types` in
# the results records what it chose.
ANCHORS = ("Q8_0", "Q5_0", "Q4_0", "Q4_K_S", "Q4_K_M", "Q3_K_M", "Q2_K")
for ftype in ANCHORS:
    ROWS[f"llama-{ftype}"] = ("llama", ftype)

# Named row sets for --rows: "table" is the set docs/quantization.md shows.
ROW_SETS = {
    "anchors": [f"llama-{f}" for f in ANCHORS],
    "table": ["rtn-Q4_0", "mse-Q4_0", "mse-imatrix-Q4_0", "dabc-Q4_0", "dabc-nobias-Q4_0", "mdqfo-Q4_0",
              "mdqfo-nobias-Q4_0", "gptq-Q4_0", "awq-Q4_0",
              "mse-Q4_K", "mse-imatrix-Q4_K", "awq-Q4_K", "mse-Q4_K_M", "mse-imatrix-Q4_K_M", "awq-Q4_K_M",
              "dabc-Q4_K_M", "alphaq-mse-3.5-alpha-high", "alphaq-mse-3.5-alpha-low",
              "alphaq-mse-3.5-uniform"] + [f"llama-{f}" for f in ANCHORS],
}


# "ROW+A4g32", "ROW+A4tok", "ROW+A8tok": ROW's model run with every layer matrix's
# input on a 4- or 8-bit activation grid (perplexity --act-bits / --act-group),
# one scale per 32 inputs or per token; ROW may be baseline-F16 (W16A4).
# "ROW+A16": float activations (TESSERA_MATMUL=float: weights dequantized to
# float tiles), where the normal rows quantize activations to the kernels'
# 8-bit blocks of 32 (Q8_0) or 256 (Q8_K).
# A "cNN" suffix clips the grid at NN % of each group's largest |x| (--act-clip).
ACT_ROW = re.compile(r"^(?P<base>.+)\+A(?:(?P<bits>[2-8])(?P<group>g[0-9]+|tok)(?:c(?P<clip>[0-9]{2}))?|(?P<float>16))$")


def split_activation(label):
    """(model row, (bits, group, clip) or ("16", None, None) or None) of a row label."""
    m = ACT_ROW.match(label)
    if not m:
        return label, None
    if m["float"]:
        return m["base"], ("16", None, None)
    group = "token" if m["group"] == "tok" else m["group"][1:]
    clip = f"0.{m['clip']}" if m["clip"] else None
    return m["base"], (m["bits"], group, clip)


def expand_rows(spec):
    """Row labels from a comma-separated list of labels and set names; unknown labels are an error."""
    out = []
    for item in filter(None, spec.split(",")):
        for label in ROW_SETS.get(item, [item]):
            base, _ = split_activation(label)
            if base not in ROWS and base != "baseline-F16":
                raise SystemExit(f"unknown row '{label}' (rows: {', '.join(ROWS)}; sets: {', '.join(ROW_SETS)})")
            if label not in out:
                out.append(label)
    return out


def run(cmd, **kw):
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed:\n{proc.stderr[-3000:]}")
    return proc.stdout


def bits_per_weight(args, path):
    """Bits per weight over all tensors, and over the layer matrices (2-D tensors other
    than the token embedding / output, which every row keeps at Q8_0), from tessera info.
    Extra tensors a method writes (dabc's 1-D .qbias) count in the layer figure."""
    tensors = json.loads(run([args.bin, "info", path, "--tensors", "--json"]))["tensors"]
    elems = lambda t: math.prod(t["shape"])
    embd = {"token_embd.weight", "output.weight"}
    layer = [t for t in tensors if len(t["shape"]) == 2 and t["name"] not in embd]
    extra = [t for t in tensors if t["name"].endswith(".qbias")]
    types = {}
    for t in layer:
        types[t["type"]] = types.get(t["type"], 0) + 1
    return (8.0 * sum(t["bytes"] for t in tensors) / sum(elems(t) for t in tensors),
            8.0 * sum(t["bytes"] for t in layer + extra) / sum(elems(t) for t in layer),
            types)


def llama_quantize(src, dst, ftype, threads):
    import llama_cpp

    from reference import quiet_stderr

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{ftype}")
    params.nthread = threads
    with quiet_stderr():
        rc = llama_cpp.llama_model_quantize(str(src).encode(), str(dst).encode(), params)
    if rc != 0:
        raise RuntimeError(f"llama.cpp could not quantize to {ftype}")


def measure(args, model, baseline_logits=None, save_logits=None, activations=None):
    cmd = [args.bin, "perplexity", "-m", model, "-f", args.text, "--ctx", args.ctx, "--chunks", args.chunks,
           "-t", args.threads, "--json"]
    cmd += ["--kl", baseline_logits] if baseline_logits else []
    cmd += ["--save-logits", save_logits] if save_logits else []
    env = None
    if activations == ("16", None, None):
        env = dict(os.environ, TESSERA_MATMUL="float")
    elif activations:
        cmd += ["--act-bits", activations[0], "--act-group", activations[1]]
        cmd += ["--act-clip", activations[2]] if activations[2] else []
    r = json.loads(run(cmd, env=env))
    # Activation grids are a quality model (a rounding in front of the same
    # kernels), not a speed path: their rows have no speed figures.
    speed = {"prefill_tok_s": None, "decode_tok_s": None}
    if not activations:
        speed = json.loads(run([args.bin, "bench", "-m", model, "-p", 256, "-n", 64, "-r", args.bench_reps,
                                "-t", args.threads, "--json"]))
    bpw, layer_bpw, layer_types = bits_per_weight(args, model)
    out = {"perplexity": r["perplexity"], "perplexity_error": r["perplexity_error"],
           "file_bytes": pathlib.Path(model).stat().st_size, "bpw": bpw, "layer_bpw": layer_bpw,
           "layer_types": layer_types,
           "activations": "float (A16)" if activations == ("16", None, None) else r.get("activations", "off"),
           "prefill_tok_s": speed["prefill_tok_s"], "decode_tok_s": speed["decode_tok_s"]}
    if baseline_logits:
        out.update(kl_mean=r["kl_mean"], kl_p99=r["kl_p99"], top1=r["top1_agreement"])
    return out


def record(results_path, label, figures):
    """Adds one row to results.json, re-reading it first so that runs measuring other
    rows into the same folder at the same time keep theirs (written to a temporary
    name and renamed: a reader never sees half a file). Returns every row."""
    results = json.loads(results_path.read_text()) if results_path.exists() else {}
    results[label] = figures
    tmp = results_path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(results, indent=1))
    os.replace(tmp, results_path)
    return results


def speed(tok_s):
    return "—" if tok_s is None else f"{tok_s:.0f}"


def table(results):
    lines = ["| row | bpw (all) | bpw (layer matrices) | file MiB | KL mean | KL p99 | top-1 % | perplexity | "
             "prefill tok/s | decode tok/s |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for label, r in sorted(results.items(), key=lambda kv: (-kv[1]["bpw"], kv[0])):
        kl = (f"{r['kl_mean']:.4f} | {r['kl_p99']:.3f} | {100 * r['top1']:.1f}" if "kl_mean" in r
              else "0 (baseline) | 0 | 100")
        lines.append(f"| {label} | {r['bpw']:.3f} | {r.get('layer_bpw', float('nan')):.3f} | {r['file_bytes'] / 2**20:.1f} | {kl} | "
                     f"{r['perplexity']:.3f} ± {r['perplexity_error']:.3f} | {speed(r['prefill_tok_s'])} | "
                     f"{speed(r['decode_tok_s'])} |")
    return "\n".join(lines)


def types_table(results):
    """Which block types each row's 126 layer matrices ended up in (llama.cpp's mixes
    and tessera's Q4_K fall back on rows whose length is not a multiple of 256)."""
    lines = ["| row | layer-matrix types (count) |", "|---|---|"]
    for label, r in sorted(results.items(), key=lambda kv: (-kv[1]["bpw"], kv[0])):
        if "layer_types" in r:
            mix = ", ".join(f"{t} {n}" for t, n in sorted(r["layer_types"].items(), key=lambda kv: -kv[1]))
            lines.append(f"| {label} | {mix} |")
    return "\n".join(lines)


def svg_chart(results, path):
    """KL mean (log scale) against the layer matrices' bits per weight, one colour per method."""
    pts = [(label, r["layer_bpw"], r["kl_mean"]) for label, r in results.items()
           if r.get("kl_mean", 0) > 0 and "layer_bpw" in r]
    if not pts:
        return
    w, h, pad = 720, 440, 60
    xs = [p[1] for p in pts]
    ys = [math.log10(p[2]) for p in pts]
    x0, x1 = min(xs) - 0.2, max(xs) + 0.2
    y0, y1 = math.floor(min(ys)), math.ceil(max(ys))
    sx = lambda x: pad + (x - x0) / (x1 - x0) * (w - 2 * pad)
    sy = lambda y: h - pad - (y - y0) / max(y1 - y0, 1e-9) * (h - 2 * pad)
    colours = {"rtn": "#1f77b4", "mse": "#d62728", "gptq": "#9467bd", "alphaq": "#ff7f0e", "llama": "#2ca02c",
               "dabc": "#8c564b", "mdqfo": "#e377c2", "awq": "#17becf"}
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" '
           f'font-size="11"><rect width="{w}" height="{h}" fill="white"/>',
           f'<line x1="{pad}" y1="{h - pad}" x2="{w - pad}" y2="{h - pad}" stroke="black"/>',
           f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{h - pad}" stroke="black"/>',
           f'<text x="{w / 2}" y="{h - 15}" text-anchor="middle">bits per weight (layer matrices)</text>',
           f'<text x="15" y="{h / 2}" transform="rotate(-90 15 {h / 2})" text-anchor="middle">KL mean (log10)</text>']
    for y in range(y0, y1 + 1):
        out.append(f'<text x="{pad - 6}" y="{sy(y) + 4}" text-anchor="end">1e{y}</text>')
        out.append(f'<line x1="{pad}" y1="{sy(y)}" x2="{w - pad}" y2="{sy(y)}" stroke="#ddd"/>')
    for b in range(math.ceil(x0), math.floor(x1) + 1):
        out.append(f'<text x="{sx(b)}" y="{h - pad + 16}" text-anchor="middle">{b}</text>')
    for family, colour in colours.items():
        fam = sorted((p for p in pts if p[0].startswith(family + "-")), key=lambda p: p[1])
        if len(fam) > 1:
            line = " ".join(f"{sx(x):.1f},{sy(math.log10(kl)):.1f}" for _, x, kl in fam)
            out.append(f'<polyline points="{line}" fill="none" stroke="{colour}" stroke-opacity="0.5"/>')
        for label, x, kl in fam:
            out.append(f'<circle cx="{sx(x):.1f}" cy="{sy(math.log10(kl)):.1f}" r="4" fill="{colour}"/>')
            out.append(f'<text x="{sx(x) + 6:.1f}" y="{sy(math.log10(kl)) - 4:.1f}" fill="{colour}">{label}</text>')
    for i, (family, colour) in enumerate(colours.items()):
        out.append(f'<text x="{w - pad - 80}" y="{pad + 14 * i}" fill="{colour}">{family}</text>')
    out.append("</svg>")
    pathlib.Path(path).write_text("\n".join(out) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", required=True, help="folder for the models, logits and results.json")
    ap.add_argument("--model", default=None, help="source GGUF (default: build/default-model.txt)")
    ap.add_argument("--bin", default=str(REPO / "build" / "tessera"))
    ap.add_argument("--text", default=str(REPO.parent / "shared" / "data" / "wikitext-2-raw" / "wiki.test.raw"))
    ap.add_argument("--ctx", type=int, default=512)
    ap.add_argument("--chunks", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rows", default=",".join(ROWS),
                    help=f"comma-separated row labels or set names ({', '.join(ROW_SETS)}); default: every row")
    ap.add_argument("--svg", default=None, help="write the chart here")
    ap.add_argument("--calib", default="/usr/share/common-licenses/GPL-3",
                    help="calibration text for gptq / mse-imatrix (never the evaluation text)")
    ap.add_argument("--calib-windows", type=int, default=4, help="windows of 512 calibration tokens")
    ap.add_argument("--bench-reps", type=int, default=2, help="repetitions of the speed benchmark")
    ap.add_argument("--drop", default="", help="comma-separated rows to forget and measure again")
    ap.add_argument("--keep", action="store_true", help="keep the quantized models in WORK (for speed runs)")
    args = ap.parse_args()
    work = pathlib.Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    model = args.model or (REPO / "build" / "default-model.txt").read_text().strip()
    results_path = work / "results.json"
    results = json.loads(results_path.read_text()) if results_path.exists() else {}
    for label in filter(None, args.drop.split(",")):
        results.pop(label, None)

    f16 = work / "baseline-f16.gguf"
    logits = work / "baseline-f16.tslp"
    if not f16.exists():
        run([args.bin, "quantize", model, f16, "--method", "none", "--type", "f16", "-t", args.threads])
    if "baseline-F16" not in results or not logits.exists():
        results = record(results_path, "baseline-F16", measure(args, f16, save_logits=logits))
    pending = [label for label in expand_rows(args.rows) if label not in results]
    for i, label in enumerate(pending):
        base, activations = split_activation(label)
        print(f"[quant_table] {label}", file=sys.stderr, flush=True)
        if base == "baseline-F16":
            out = f16
        else:
            kind, spec = ROWS[base]
            out = work / f"{base}.gguf"
            if out.exists():
                pass  # made for an earlier row of this run (or beforehand, for llama.cpp's files)
            elif kind == "tessera":
                calib = ["--calib-windows", args.calib_windows] if "--calib" in spec else []
                run([args.bin, "quantize", f16, out, "-t", args.threads,
                     *(a.format(calib=args.calib) for a in spec), *calib])
            else:
                llama_quantize(f16, out, spec, args.threads)
        results = record(results_path, label, measure(args, out, baseline_logits=logits, activations=activations))
        # Models are re-made on demand; only the figures are kept.
        if out != f16 and not args.keep and all(split_activation(later)[0] != base for later in pending[i + 1:]):
            out.unlink()
    print(table(results))
    print()
    print(types_table(results))
    if args.svg:
        svg_chart(results, args.svg)


if __name__ == "__main__":
    main()
