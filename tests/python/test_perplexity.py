"""tessera perplexity on the default model: a sane figure that matches llama.cpp's
method, saved log-probabilities and KL against them, and input checks."""
import json
import math

import numpy as np

import reference
from conftest import run_tessera

CTX = 128


def perplexity(model, wiki, *args):
    proc = run_tessera("perplexity", "-m", model, "-f", wiki, "--ctx", CTX, "--chunks", "2", "--json", *args)
    return json.loads(proc.stdout), proc.stderr


def test_perplexity_of_two_windows(default_model, wiki_test_path):
    r, stderr = perplexity(default_model, wiki_test_path)
    assert math.isfinite(r["perplexity"]) and 3.0 < r["perplexity"] < 100.0
    assert r["n_chunks"] == 2 and r["n_ctx"] == CTX
    assert r["n_scored"] == 2 * (CTX - 1 - CTX // 2)
    assert 0 < r["perplexity_error"] < r["perplexity"]
    assert abs(math.log(r["perplexity"]) - r["mean_nll"]) < 1e-9
    assert "2/2 windows" in stderr and "ETA" in stderr


def test_perplexity_matches_the_llamacpp_method(default_model, wiki_test_path):
    """llama.cpp's own logits scored the llama-perplexity way: the windows, BOS and
    scored half must agree; the remaining gap is the model's numerics (K-quant
    dot products, docs/correctness.md), ~1% on this text."""
    ours, _ = perplexity(default_model, wiki_test_path)
    llm = reference.load(default_model, n_ctx=CTX)
    with open(wiki_test_path, "rb") as f:
        tokens = llm.tokenize(f.read(), add_bos=True, special=False)
    assert ours["n_tokens"] == len(tokens)
    nll = []
    for c in range(2):
        window = tokens[c * CTX:(c + 1) * CTX]
        window[0] = llm.token_bos()
        logp = reference.log_softmax(reference.logits(llm, window))
        nll += [-logp[i, window[i + 1]] for i in range(CTX // 2, CTX - 1)]
    ref_ppl = math.exp(float(np.mean(nll)))
    print(f"\nperplexity: tessera {ours['perplexity']:.4f}, llama.cpp {ref_ppl:.4f}")
    assert abs(ours["perplexity"] / ref_ppl - 1) < 0.05


def test_saved_logits_against_the_same_model_give_zero_kl(default_model, wiki_test_path, tmp_path):
    base = tmp_path / "base.tslp"
    first, _ = perplexity(default_model, wiki_test_path, "--save-logits", base)
    n_vocab = 262144
    scored = 2 * (CTX - 1 - CTX // 2)
    assert base.stat().st_size == 20 + 2 * CTX * 4 + scored * n_vocab * 2
    second, _ = perplexity(default_model, wiki_test_path, "--kl", base)
    assert second["kl_mean"] < 1e-4
    assert second["kl_p99"] < 1e-4
    assert second["top1_agreement"] == 1.0
    assert second["perplexity"] == first["perplexity"]
    assert abs(second["baseline_perplexity"] / second["perplexity"] - 1) < 1e-3
    text = run_tessera("perplexity", "-m", default_model, "-f", wiki_test_path, "--ctx", CTX, "--chunks", "2",
                       "--kl", base).stdout
    assert "KL mean" in text and "top-1 agreement 100.00%" in text


def test_a_mismatched_baseline_is_rejected(default_model, wiki_test_path, tmp_path):
    base = tmp_path / "base.tslp"
    run_tessera("perplexity", "-m", default_model, "-f", wiki_test_path, "--ctx", "64", "--chunks", "1",
                "--save-logits", base)
    proc = run_tessera("perplexity", "-m", default_model, "-f", wiki_test_path, "--ctx", "128", "--chunks", "1",
                       "--kl", base, check=False)
    assert proc.returncode == 1 and "ctx 64" in proc.stderr and "ctx 128" in proc.stderr
    other = tmp_path / "other.txt"
    other.write_text("A different text entirely. " * 200)
    proc = run_tessera("perplexity", "-m", default_model, "-f", other, "--ctx", "64", "--chunks", "1",
                       "--kl", base, check=False)
    assert proc.returncode == 1 and "other tokens" in proc.stderr
    garbage = tmp_path / "garbage.tslp"
    garbage.write_bytes(b"not a baseline at all")
    proc = run_tessera("perplexity", "-m", default_model, "-f", wiki_test_path, "--ctx", "64", "--chunks", "1",
                       "--kl", garbage, check=False)
    assert proc.returncode == 1 and "not a tessera saved-logits file" in proc.stderr


def test_bad_options_are_rejected(default_model, wiki_test_path, tmp_path):
    def error(*args):
        proc = run_tessera("perplexity", "-m", default_model, *args, check=False, timeout=120)
        assert proc.returncode == 1, proc.stderr
        return proc.stderr

    assert "--ctx" in error("-f", wiki_test_path, "--ctx", "2")
    assert "--chunks" in error("-f", wiki_test_path, "--chunks", "0")
    assert "--batch" in error("-f", wiki_test_path, "--batch", "0")
    assert "--threads" in error("-f", wiki_test_path, "-t", "0")
    assert "--act-bits must be 2 to 8" in error("-f", wiki_test_path, "--act-bits", "9")
    assert "--act-clip must be in (0, 1]" in error("-f", wiki_test_path, "--act-bits", "4", "--act-clip", "1.5")
    assert "--act-group must be a positive number" in error("-f", wiki_test_path, "--act-bits", "4", "--act-group", "0")
    # Gemma 3 270M's inputs are 640 and 2048 wide: 384 divides neither.
    assert "does not divide a matrix input of 640" in error("-f", wiki_test_path, "--ctx", "64", "--chunks", "1",
                                                            "--act-bits", "4", "--act-group", "384")
    assert "cannot open" in error("-f", tmp_path / "missing.txt")
    short = tmp_path / "short.txt"
    short.write_text("too short")
    assert "fewer than one window" in error("-f", short, "--ctx", "128")


def test_activation_grids_cost_perplexity_in_order(default_model, wiki_test_path):
    # W4A8-per-group is close to the model as it is; 4-bit activations cost
    # more, with one scale per token most of all (Gemma's few massive channels
    # set every token's scale).
    ppl = {}
    for bits, group in ((0, "32"), (8, "32"), (4, "32"), (4, "token")):
        r, _ = perplexity(default_model, wiki_test_path, "--act-bits", str(bits), "--act-group", group)
        ppl[(bits, group)] = r["perplexity"]
        assert r["activations"] == ("off" if bits == 0 else f"A{bits} " + ("per-token" if group == "token" else "g32"))
    assert abs(math.log(ppl[(8, "32")] / ppl[(0, "32")])) < 0.05
    assert ppl[(0, "32")] < ppl[(4, "32")] < ppl[(4, "token")]
