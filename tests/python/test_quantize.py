"""tessera quantize on the suite's random-weight models: the standard-type outputs
load and run in llama.cpp with the logits tessera computes from the same file; the
error report is the file's; bad input gets a clear error and leaves no file."""
import json

import gguf
import numpy as np
import pytest

import model_fixtures
import reference
import tessera_io
from conftest import run_tessera


@pytest.fixture(scope="module")
def f32_model(tmp_path_factory):
    return model_fixtures.build(tmp_path_factory.mktemp("qmodels"), "llama", "F32")


def quantize(src, dst, *args):
    proc = run_tessera("quantize", src, dst, "--json", "-t", "2", *args)
    return json.loads(proc.stdout), proc.stderr


def relative_rmse(a, b):
    return float(np.sqrt(((a - b) ** 2).mean() / (b ** 2).mean()))


@pytest.mark.parametrize("method,qtype,extra", [
    ("rtn", "Q4_0", []), ("mse", "Q4_1", []), ("mse", "Q5_0", []), ("rtn", "Q5_1", []),
    ("mse", "Q8_0", []), ("mse", "Q4_K", []), ("rtn", "Q6_K", []), ("mse", "Q6_K", []),
    ("rtn", "Q4_0", ["--group", "128"]), ("mse", "Q4_0", ["--per-channel"]),
    ("rtn", "Q2_K", []), ("mse", "Q2_K", []), ("rtn", "Q3_K", []), ("mse", "Q3_K", []),
    ("rtn", "Q5_K", []), ("mse", "Q5_K", []),
])
def test_llamacpp_runs_the_output_with_tesseras_logits(f32_model, tmp_path, method, qtype, extra):
    out = tmp_path / f"{method}-{qtype}.gguf"
    report, stderr = quantize(f32_model, out, "--method", method, "--type", qtype, "--embd-type", qtype, *extra)
    assert "tensors" in stderr and "ETA" in stderr  # the progress bar
    assert not (tmp_path / (out.name + ".tmp")).exists()
    reader = gguf.GGUFReader(str(out))
    matrices = [t for t in reader.tensors if len(t.shape) == 2]
    assert matrices and all(t.tensor_type.name == qtype for t in matrices)
    norms = [t for t in reader.tensors if "norm" in t.name]
    assert norms and all(t.tensor_type.name == "F32" for t in norms)
    assert report["file_bytes"] == out.stat().st_size
    # The reported error is the error of what the file holds.
    src = {t.name: t for t in gguf.GGUFReader(str(f32_model)).tensors}
    for t in report["tensors"]:
        if t["quantized"]:
            back = gguf.quants.dequantize(reader.get_tensor([x.name for x in reader.tensors].index(t["name"])).data,
                                          gguf.GGMLQuantizationType[qtype])
            want = np.asarray(src[t["name"]].data, dtype=np.float32).reshape(back.shape)
            assert abs(relative_rmse(back, want) - t["rel_rmse"]) < 1e-4, t["name"]
    # llama.cpp loads it and computes what tessera computes from the same file.
    # Parity mode (llama.cpp's kernel order): this random fixture amplifies the
    # default mode's float-order differences to 1.7-3.1e-2 x max|logit| on every
    # type, which would hide a misread block; in parity mode the K types, Q5_0
    # and Q8_0 measured bit-identical, Q4_0 / Q4_1 ~1e-2 (test_logits_parity.py
    # and docs/correctness.md hold the default mode to its own bound).
    llm = reference.load(out, n_ctx=64)
    tokens = [llm.token_bos()] + [int(t) for t in np.random.default_rng(1).integers(300, 500, size=31)]
    ref = reference.logits(llm, tokens)
    ours = tessera_io.logits(out, tokens, tmp_path, env=tessera_io.PARITY_MODE)
    assert np.abs(ours - ref).max() <= 3e-2 * np.abs(ref).max()
    assert (ours.argmax(1) == ref.argmax(1)).mean() >= 0.9


def test_mse_error_is_below_rtn_on_every_matrix(f32_model, tmp_path):
    rtn, _ = quantize(f32_model, tmp_path / "rtn.gguf", "--method", "rtn", "--bits", "4")
    mse, _ = quantize(f32_model, tmp_path / "mse.gguf", "--method", "mse", "--bits", "4")
    pairs = [(a, b) for a, b in zip(rtn["tensors"], mse["tensors"]) if a["quantized"]]
    assert pairs and all(b["rel_rmse"] < a["rel_rmse"] for a, b in pairs)
    assert rtn["file_bytes"] == mse["file_bytes"]


def test_none_f16_is_the_float_baseline(f32_model, tmp_path):
    out = tmp_path / "f16.gguf"
    report, _ = quantize(f32_model, out, "--method", "none", "--type", "f16")
    assert all(t["type"] == "F16" for t in report["tensors"] if t["quantized"])
    assert max(t["rel_rmse"] for t in report["tensors"]) < 1e-3
    tokens = list(range(1, 33))
    f16, f32 = tessera_io.logits(out, tokens, tmp_path), tessera_io.logits(f32_model, tokens, tmp_path)
    assert np.abs(f16 - f32).max() < 1e-2 * np.abs(f32).max()


@pytest.mark.parametrize("args,message", [
    (["--method", "awq-typo"], "unknown quantization method"),
    (["--type", "IQ4_NL"], "unknown type"),
    (["--type", "BF16"], "not written by the grid methods"),
    (["--type", "Q4_K_M", "--bits", "3"], "fixes each matrix's type"),
    (["--type", "Q4_K_M", "--avg-bits", "4"], "drop --type"),
    (["--method", "none", "--type", "Q4_K_M"], "writes float types"),
    (["--method", "gptq", "--type", "Q6_K"], "gptq writes the legacy types"),
    (["--type", "Q4_0", "--bits", "5"], "5 bits do not fit Q4_0"),
    (["--bits", "9"], "--bits must be 2 to 8"),
    (["--bits", "1"], "--bits must be 2 to 8"),
    (["--type", "Q4_0", "--group", "48"], "group 48 is not a multiple"),
    (["--type", "Q4_0", "--group", "1024"], "does not divide"),
    (["--type", "Q4_0", "--asym"], "--asym asks for an offset"),
    (["--method", "none", "--type", "Q4_0"], "method none writes F32, F16 or BF16"),
    (["--method", "none"], "--method none needs --type"),
    (["--type", "Q9_9"], "unknown type"),
    (["--threads", "0"], "must be positive"),
    (["--rotate", "48"], "--rotate 48: must be a power of two"),
    (["--rotate", "4096"], "dividing every layer matrix's rows"),
    (["--method", "rtn", "--no-bias"], "--no-bias applies to dabc and mdqfo"),
    (["--method", "dabc", "--no-bias"], "dabc writes a bias only with --calib"),
    (["--per-channel", "--group", "64"], "drop --group"),
    (["--per-channel", "--type", "Q4_K_M"], "not with --avg-bits or a mix"),
    (["--method", "none", "--type", "F16", "--per-channel"], "--per-channel needs a quantizing method"),
    (["--per-token-activations"], "--per-token-activations needs --per-channel"),
    (["--per-channel", "--per-token-activations", "--type", "Q4_K"], "take Q4_0 or Q8_0, not Q4_K"),
])
def test_bad_options_are_refused_and_leave_no_file(f32_model, tmp_path, args, message):
    out = tmp_path / "out.gguf"
    proc = run_tessera("quantize", f32_model, out, *args, check=False)
    assert proc.returncode != 0
    assert message in proc.stderr
    assert list(tmp_path.iterdir()) == []


def block_scales(tensor, block_bytes):
    """The fp16 scale at the start of every block of a legacy-type matrix, rows x blocks."""
    raw = np.asarray(tensor.data, dtype=np.uint8)
    rows = raw.shape[0]
    return raw.reshape(rows, -1, block_bytes)[:, :, :2].copy().view(np.float16).reshape(rows, -1)


@pytest.mark.parametrize("qtype,block_bytes", [("Q4_0", 18), ("Q8_0", 34)])
def test_per_channel_rows_share_one_scale_in_standard_blocks(f32_model, tmp_path, qtype, block_bytes):
    per_row, per_block = tmp_path / "row.gguf", tmp_path / "block.gguf"
    row_report, _ = quantize(f32_model, per_row, "--method", "mse", "--type", qtype, "--per-channel")
    block_report, _ = quantize(f32_model, per_block, "--method", "mse", "--type", qtype)
    layer = [t for t in gguf.GGUFReader(str(per_row)).tensors if t.name.startswith("blk.") and len(t.shape) == 2]
    assert layer and all(t.tensor_type.name == qtype for t in layer)
    for t in layer:
        d = block_scales(t, block_bytes)
        assert d.shape[1] > 1 and np.all(d == d[:, :1]), t.name  # one scale per row
    embd = next(t for t in gguf.GGUFReader(str(per_row)).tensors if t.name == "token_embd.weight")
    d = block_scales(embd, 34)  # the embeddings keep their Q8_0 blocks' own scales
    assert not np.all(d == d[:, :1])
    # One scale for a whole row fits its weights worse than one per block.
    err = lambda r: {t["name"]: t["rel_rmse"] for t in r["tensors"] if t["name"].startswith("blk.") and t["quantized"]}
    row_err, block_err = err(row_report), err(block_report)
    assert row_err and all(row_err[n] > block_err[n] for n in row_err)


def test_bad_paths(f32_model, tmp_path):
    proc = run_tessera("quantize", f32_model, tmp_path / "missing-dir" / "out.gguf", check=False)
    assert proc.returncode != 0 and "does not exist" in proc.stderr
    proc = run_tessera("quantize", f32_model, f32_model, check=False)
    assert proc.returncode != 0 and "must not be the input" in proc.stderr
    not_gguf = tmp_path / "text.gguf"
    not_gguf.write_text("this is not a model\n")
    proc = run_tessera("quantize", not_gguf, tmp_path / "o.gguf", check=False)
    assert proc.returncode != 0 and "error:" in proc.stderr
    assert not (tmp_path / "o.gguf").exists() and not (tmp_path / "o.gguf.tmp").exists()
    read_only = tmp_path / "ro"
    read_only.mkdir()
    read_only.chmod(0o500)
    try:
        proc = run_tessera("quantize", f32_model, read_only / "o.gguf", check=False)
        # root may write anywhere; then the output must at least be complete.
        if proc.returncode != 0:
            assert "not writable" in proc.stderr and list(read_only.iterdir()) == []
        else:
            assert gguf.GGUFReader(str(read_only / "o.gguf")).tensors
    finally:
        read_only.chmod(0o700)


def test_alphaq_allocation_meets_the_budget_in_both_directions(f32_model, tmp_path):
    picked = {}
    for order in ("alpha-low", "alpha-high", "uniform"):
        report, _ = quantize(f32_model, tmp_path / f"{order}.gguf", "--method", "rtn", "--avg-bits", "4.5",
                             "--alloc", order)
        mats = [t for t in report["tensors"] if t["quantized"] and t["name"] not in ("token_embd.weight",
                                                                                     "output.weight")]
        n = sum(np.prod(t["shape"]) for t in mats)
        avg = sum(t["bits"] * np.prod(t["shape"]) for t in mats) / n
        assert 4.0 < avg <= 4.5
        assert {t["type"] for t in mats} == {"Q4_0", "Q5_0"}
        assert all((t["type"] == "Q5_0") == (t["bits"] == 5) for t in mats)
        assert all(t["alpha"] > 1.0 for t in mats)
        picked[order] = {t["name"] for t in mats if t["bits"] == 5}
        promoted = [t["alpha"] for t in mats if t["bits"] == 5]
        kept = [t["alpha"] for t in mats if t["bits"] == 4]
        if order == "alpha-low":
            assert np.median(promoted) < np.median(kept)
        if order == "alpha-high":
            assert np.median(promoted) > np.median(kept)
    assert picked["alpha-low"] != picked["alpha-high"]


def test_alphaq_in_k_types_stores_each_bit_count_at_its_own_size(f32_model, tmp_path):
    """--alloc-types k: 3 and 4 allocated bits become Q3_K and Q4_K, so the file is
    smaller than the legacy allocation (3 bits emulated at Q4_0's size) and lies
    between the uniform Q3_K and Q4_K files."""
    sizes = {}
    for name, args in (("k", ["--avg-bits", "3.5", "--alloc-types", "k"]), ("legacy", ["--avg-bits", "3.5"]),
                       ("q3k", ["--type", "Q3_K"]), ("q4k", ["--type", "Q4_K"])):
        report, _ = quantize(f32_model, tmp_path / f"{name}.gguf", "--method", "mse", *args)
        sizes[name] = report["file_bytes"]
        if name == "k":
            mats = [t for t in report["tensors"] if t["quantized"] and t["name"] not in ("token_embd.weight",
                                                                                         "output.weight")]
            assert {t["type"] for t in mats} == {"Q3_K", "Q4_K"}
            assert all((t["type"] == "Q4_K") == (t["bits"] == 4) for t in mats)
    assert sizes["q3k"] < sizes["k"] < sizes["q4k"]
    assert sizes["k"] < sizes["legacy"]


@pytest.mark.parametrize("args,message", [
    (["--avg-bits", "4.5", "--type", "Q4_0"], "drop --type"),
    (["--avg-bits", "9"], "--avg-bits must be 2 to 8"),
    (["--avg-bits", "4.5", "--alloc", "sideways"], "unknown allocation"),
    (["--method", "none", "--type", "f16", "--avg-bits", "4"], "needs a grid method"),
    (["--avg-bits", "3.5", "--alloc-types", "iq"], "must be legacy or k"),
    (["--avg-bits", "3.5", "--alloc-types", "k", "--asym"], "drop --asym"),
    (["--alloc-types", "k"], "--alloc-types applies to --avg-bits"),
])
def test_bad_allocation_options(f32_model, tmp_path, args, message):
    proc = run_tessera("quantize", f32_model, tmp_path / "o.gguf", *args, check=False)
    assert proc.returncode != 0 and message in proc.stderr
    assert list(tmp_path.iterdir()) == []


def calibration_text(path, seed=3, words=1500):
    rng = np.random.default_rng(seed)
    path.write_text(" ".join(f"w{int(i)}" for i in rng.integers(0, 200, size=words)) + "\n")
    return path


def test_gptq_with_calibration_runs_in_llamacpp_and_tracks_the_float_model(f32_model, tmp_path):
    calib = calibration_text(tmp_path / "calib.txt")
    out = {}
    for method in ("rtn", "gptq"):
        out[method] = tmp_path / f"{method}.gguf"
        report, stderr = quantize(f32_model, out[method], "--method", method, "--type", "Q4_0", "--embd-type", "Q8_0",
                                  "--calib", calib, "--calib-windows", "2")
        if method == "gptq":
            assert "calibration windows" in stderr
            used = {t["name"]: t["method"] for t in report["tensors"] if t["quantized"]}
            assert used["blk.0.attn_q.weight"] == "gptq" and used["token_embd.weight"] == "mse"
    # Held-out text of the same kind: gptq's logits are closer to the float model's.
    llm = reference.load(out["gptq"], n_ctx=128)
    text = " ".join(f"w{int(i)}" for i in np.random.default_rng(99).integers(0, 200, size=80))
    tokens = llm.tokenize(text.encode(), add_bos=True)[:96]
    ref = tessera_io.logits(f32_model, tokens, tmp_path)
    err = {m: float(((tessera_io.logits(p, tokens, tmp_path) - ref) ** 2).mean()) for m, p in out.items()}
    print(f"\nmean squared logit error vs F32: {err}")
    assert err["gptq"] < err["rtn"]
    ll = reference.logits(llm, tokens)
    assert np.abs(ll - tessera_io.logits(out["gptq"], tokens, tmp_path)).max() <= 3e-2 * np.abs(ll).max()


def test_rotated_gptq_uses_the_rotated_hessian(f32_model, tmp_path):
    # With --rotate the calibration statistics are rotated with the weights
    # (H E[xx^T] H): gptq's error feedback then still beats rtn on the same
    # rotated matrices. A Hessian left in the unrotated basis would not.
    calib = calibration_text(tmp_path / "calib.txt")
    out = {}
    for method in ("rtn", "gptq"):
        out[method] = tmp_path / f"rot-{method}.gguf"
        quantize(f32_model, out[method], "--method", method, "--type", "Q4_0", "--rotate", "32",
                 "--calib", calib, "--calib-windows", "2")
    out["gptq-unrotated"] = tmp_path / "gptq.gguf"
    quantize(f32_model, out["gptq-unrotated"], "--method", "gptq", "--type", "Q4_0", "--calib", calib, "--calib-windows", "2")
    text = " ".join(f"w{int(i)}" for i in np.random.default_rng(99).integers(0, 200, size=80))
    tokens = reference.load(f32_model, n_ctx=128).tokenize(text.encode(), add_bos=True)[:96]
    ref = tessera_io.logits(f32_model, tokens, tmp_path)
    err = {m: float(((tessera_io.logits(p, tokens, tmp_path) - ref) ** 2).mean()) for m, p in out.items()}
    print(f"\nrotated files, mean squared logit error vs F32: {err}")
    assert err["gptq"] < err["rtn"]
    info = run_tessera("info", out["gptq"])
    assert "rotation      Hadamard, blocks of 32 inputs" in info.stdout
    assert json.loads(run_tessera("info", out["gptq"], "--json").stdout)["rotation_block"] == 32
    assert json.loads(run_tessera("info", f32_model, "--json").stdout)["rotation_block"] == 0


def test_bad_calibration_input(f32_model, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    binary = tmp_path / "binary.txt"
    binary.write_bytes(bytes(range(256)) * 8)
    short = tmp_path / "short.txt"
    short.write_text("w1 w2\n")
    cases = [
        (["--method", "gptq"], "needs calibration text"),
        (["--method", "gptq", "--calib", empty], "is empty"),
        (["--method", "gptq", "--calib", binary], "not UTF-8 text"),
        (["--method", "gptq", "--calib", tmp_path / "missing.txt"], "cannot open"),
        (["--method", "gptq", "--calib", short], "at least 16 are needed"),
        (["--method", "gptq", "--type", "Q4_K", "--calib", calibration_text(tmp_path / "c.txt")], "legacy types"),
    ]
    outdir = tmp_path / "out"
    outdir.mkdir()
    for args, message in cases:
        proc = run_tessera("quantize", f32_model, outdir / "o.gguf", *args, check=False)
        assert proc.returncode != 0 and message in proc.stderr, (args, proc.stderr[-500:])
        assert list(outdir.iterdir()) == []


def test_unsupported_source_type_is_refused(tmp_path):
    """A matrix stored in an activation-only type (Q8_K) cannot be a quantizer's source."""
    src = tmp_path / "q8k.gguf"
    w = gguf.GGUFWriter(str(src), "llama")
    w.add_tensor("blk.0.ffn_up.weight", np.zeros((4, 292), dtype=np.uint8),
                 raw_dtype=gguf.GGMLQuantizationType.Q8_K)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    out = tmp_path / "out.gguf"
    proc = run_tessera("quantize", src, out, check=False)
    assert proc.returncode != 0 and "Q8_K" in proc.stderr, proc.stderr
    assert not out.exists() and not (tmp_path / "out.gguf.tmp").exists()


def logit_errors(f32_model, models, tmp_path):
    """Mean squared logit error against the F32 model on held-out text of the calibration's kind."""
    text = " ".join(f"w{int(i)}" for i in np.random.default_rng(99).integers(0, 200, size=80))
    tokens = reference.load(f32_model, n_ctx=128).tokenize(text.encode(), add_bos=True)[:96]
    ref = tessera_io.logits(f32_model, tokens, tmp_path)
    return {m: float(((tessera_io.logits(p, tokens, tmp_path) - ref) ** 2).mean()) for m, p in models.items()}, tokens


def test_dabc_writes_biases_that_tessera_adds(f32_model, tmp_path):
    calib = calibration_text(tmp_path / "calib.txt")
    out = {}
    for method in ("rtn", "dabc", "mdqfo"):
        out[method] = tmp_path / f"{method}.gguf"
        quantize(f32_model, out[method], "--method", method, "--type", "Q4_0", "--calib", calib, "--calib-windows", "2")
    names = {t.name for t in gguf.GGUFReader(str(out["dabc"])).tensors}
    layer_matrices = [n for n in names if n.startswith("blk.") and n.endswith(".weight") and "norm" not in n]
    assert layer_matrices and all(n[:-len("weight")] + "qbias" in names for n in layer_matrices)
    assert "token_embd.qbias" not in names and not any(n.endswith(".qbias") for n in
                                                       {t.name for t in gguf.GGUFReader(str(out["rtn"])).tensors})
    err, _ = logit_errors(f32_model, out, tmp_path)
    print(f"\nmean squared logit error vs F32: {err}")
    assert err["dabc"] < err["rtn"] and err["mdqfo"] < err["rtn"]
    # Without calibration there is no mean to compensate: a standard file.
    plain = tmp_path / "dabc-nocalib.gguf"
    quantize(f32_model, plain, "--method", "dabc", "--type", "Q4_0")
    assert not any(t.name.endswith(".qbias") for t in gguf.GGUFReader(str(plain)).tensors)
    # A biased file cannot be a quantizer's source.
    proc = run_tessera("quantize", out["dabc"], tmp_path / "again.gguf", check=False)
    assert proc.returncode != 0 and "quantization bias" in proc.stderr
    assert not (tmp_path / "again.gguf").exists()
    # --no-bias: the same calibrated grids and masks, byte for byte, and no bias.
    nobias = tmp_path / "dabc-nobias.gguf"
    quantize(f32_model, nobias, "--method", "dabc", "--type", "Q4_0", "--calib", calib, "--calib-windows", "2",
             "--no-bias")
    with_bias = {t.name: t for t in gguf.GGUFReader(str(out["dabc"])).tensors}
    without = {t.name: t for t in gguf.GGUFReader(str(nobias)).tensors}
    assert set(without) == {n for n in with_bias if not n.endswith(".qbias")}
    assert all(np.array_equal(without[n].data, with_bias[n].data) for n in without)


def test_awq_folds_its_scales_into_the_norms_and_llamacpp_runs_it(f32_model, tmp_path):
    calib = calibration_text(tmp_path / "calib.txt")
    out = {}
    for method in ("rtn", "awq"):
        out[method] = tmp_path / f"{method}.gguf"
        report, _ = quantize(f32_model, out[method], "--method", method, "--type", "Q4_0", "--calib", calib,
                             "--calib-windows", "2")
    src = {t.name: np.asarray(t.data) for t in gguf.GGUFReader(str(f32_model)).tensors}
    got = {t.name: np.asarray(t.data) for t in gguf.GGUFReader(str(out["awq"])).tensors}
    changed = [n for n in got if "norm" in n and not np.array_equal(got[n], src[n])]
    assert changed and all(n.endswith(("attn_norm.weight", "ffn_norm.weight")) for n in changed)
    assert not any(n.endswith(".qbias") for n in got)
    # ffn_down's input, act(gate) * up, is rescaled through ffn_up's rows, and
    # attn_output's through attn_v's (the attention is linear in V): stored =
    # diag(1/s_rows) W diag(s_cols), so log(stored / W) has a row effect
    # besides the column one (norm folding). Under rtn it stays within
    # rounding; awq's search may keep s = 1 for a layer, so one layer suffices.
    for producer in ("ffn_up", "attn_v"):
        for method in ("rtn", "awq"):
            spread = []
            for t in gguf.GGUFReader(str(out[method])).tensors:
                if t.name.endswith(producer + ".weight"):
                    stored = gguf.quants.dequantize(t.data, t.tensor_type)
                    w = src[t.name].reshape(stored.shape)
                    big = np.abs(w) > np.median(np.abs(w))  # where 4-bit rounding is relatively small
                    with np.errstate(divide="ignore", invalid="ignore"):
                        ratio = np.where(big & (stored * w > 0), np.log(np.abs(stored / w)), np.nan)
                    rows = np.nanmedian(ratio - np.nanmedian(ratio, axis=0, keepdims=True), axis=1)
                    spread.append(float(np.nanstd(rows)))
            # Measured: rtn 0.006, awq 0.06-0.07 (a layer at s = 1: 0.006).
            assert (max(spread) > 0.02) == (method == "awq"), (producer, method, spread)
    err, tokens = logit_errors(f32_model, out, tmp_path)
    print(f"\nmean squared logit error vs F32: {err}")
    assert err["awq"] < err["rtn"]
    llm = reference.load(out["awq"], n_ctx=128)
    ll = reference.logits(llm, tokens)
    assert np.abs(ll - tessera_io.logits(out["awq"], tokens, tmp_path)).max() <= 3e-2 * np.abs(ll).max()


@pytest.mark.parametrize("arch", ["llama", "gemma3", "qwen2"])
def test_q4_k_m_mix_has_llamacpps_type_for_every_tensor(tmp_path, arch):
    # The mix follows llama.cpp's Q4_K_M recipe tensor for tensor (Q6_K for the
    # output / tied embedding and for attn_v, ffn_down of the layers it picks),
    # whichever method fills the blocks; llama.cpp runs the result.
    f32 = model_fixtures.build(tmp_path, arch, "F32")
    theirs = model_fixtures.build(tmp_path, arch, "Q4_K")
    out = tmp_path / f"{arch}-mse-q4_k_m.gguf"
    report, _ = quantize(f32, out, "--method", "mse", "--type", "Q4_K_M")
    want = {t.name: t.tensor_type.name for t in gguf.GGUFReader(str(theirs)).tensors}
    reader = gguf.GGUFReader(str(out))
    got = {t.name: t.tensor_type.name for t in reader.tensors}
    assert got == want
    assert "Q6_K" in got.values() and "Q4_K" in got.values()
    assert int(reader.fields["general.file_type"].parts[-1][0]) == 15  # LLAMA_FTYPE_MOSTLY_Q4_K_M
    assert report["file_bytes"] == out.stat().st_size == pytest.approx(theirs.stat().st_size, rel=0.02)
    llm = reference.load(out, n_ctx=64)
    tokens = [llm.token_bos()] + [int(t) for t in np.random.default_rng(2).integers(300, 500, size=15)]
    ref = reference.logits(llm, tokens)
    ours = tessera_io.logits(out, tokens, tmp_path, env=tessera_io.PARITY_MODE)
    assert np.abs(ours - ref).max() <= 1e-2 * np.abs(ref).max()  # K types: bit-identical in parity mode


def test_per_token_activations_key_and_run(f32_model, tmp_path):
    """--per-token-activations writes the key (tessera info shows it); tessera runs
    the file on its row-scaled kernels, llama.cpp on its own (the key is
    tessera's), and both agree on the model within the activation rounding."""
    out = tmp_path / "w4a8.gguf"
    quantize(f32_model, out, "--method", "mse", "--type", "Q4_0", "--per-channel", "--per-token-activations")
    info = json.loads(run_tessera("info", out, "--json").stdout)
    assert info["activation_scales"] == "token"
    assert "one scale per token" in run_tessera("info", out).stdout
    plain = tmp_path / "w4.gguf"
    quantize(f32_model, plain, "--method", "mse", "--type", "Q4_0", "--per-channel")
    assert json.loads(run_tessera("info", plain, "--json").stdout)["activation_scales"] == "block"
    prompt = [1] + [int(t) for t in np.random.default_rng(2).integers(300, 500, size=15)]
    token = tessera_io.logits(out, prompt, tmp_path)
    block = tessera_io.logits(plain, prompt, tmp_path)
    # Same weights; only the activations' rounding differs.
    assert 0 < relative_rmse(token, block) < 0.1
    llm = reference.load(out, n_ctx=64)
    ref = reference.logits(llm, prompt)
    assert relative_rmse(token, ref) < 0.1
    assert (token.argmax(1) == ref.argmax(1)).mean() >= 0.7
