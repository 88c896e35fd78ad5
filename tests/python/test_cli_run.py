"""tessera run and perplexity on the default model: determinism, limits, stop strings,
saved log-probabilities and KL."""
import json

from conftest import run_tessera


def run_json(model, *args):
    return json.loads(run_tessera("run", "-m", model, "--json", *args).stdout)


def test_greedy_is_deterministic_and_limited(default_model):
    a = run_json(default_model, "--greedy", "-n", "12", "The sky is")
    b = run_json(default_model, "--greedy", "-n", "12", "The sky is")
    assert a["tokens"] == b["tokens"] and a["text"] == b["text"]
    assert len(a["tokens"]) <= 12
    assert a["finish_reason"] in ("length", "stop")
    assert a["peak_rss_bytes"] > 0


def test_seed_makes_sampling_reproducible(default_model):
    args = ["--temp", "1.2", "--top-k", "0", "--top-p", "1", "--min-p", "0", "-n", "16", "Write a story:"]
    a = run_json(default_model, "--seed", "1", *args)
    b = run_json(default_model, "--seed", "1", *args)
    c = run_json(default_model, "--seed", "2", *args)
    assert a["tokens"] == b["tokens"]
    assert a["tokens"] != c["tokens"]


def test_stop_string_cuts_the_output(default_model):
    free = run_json(default_model, "--greedy", "-n", "24", "Count: one, two, three,")
    text = free["text"]
    assert len(text) > 6
    stop = text[3:6]
    cut = run_json(default_model, "--greedy", "-n", "24", "--stop", stop, "Count: one, two, three,")
    assert cut["finish_reason"] == "stop"
    assert cut["text"] == text[: text.index(stop)]


def test_streaming_output_and_summary(default_model):
    proc = run_tessera("run", "-m", default_model, "--greedy", "-n", "8", "Hello")
    assert proc.stdout.strip()
    assert "tok/s" in proc.stderr and "peak RSS" in proc.stderr


def test_perplexity_save_and_kl_against_itself(default_model, wiki_test_path, tmp_path):
    base = tmp_path / "base.tslp"
    first = json.loads(run_tessera("perplexity", "-m", default_model, "-f", wiki_test_path, "--ctx", "128",
                                   "--chunks", "2", "--save-logits", base, "--json").stdout)
    assert 1.0 < first["perplexity"] < 200.0
    assert first["n_scored"] == 2 * 63
    second = json.loads(run_tessera("perplexity", "-m", default_model, "-f", wiki_test_path, "--ctx", "128",
                                    "--chunks", "2", "--kl", base, "--json").stdout)
    assert second["kl_mean"] < 1e-4
    assert second["top1_agreement"] == 1.0
    assert abs(second["baseline_perplexity"] / second["perplexity"] - 1) < 1e-3


def test_perplexity_rejects_a_mismatched_baseline(default_model, wiki_test_path, tmp_path):
    base = tmp_path / "base.tslp"
    run_tessera("perplexity", "-m", default_model, "-f", wiki_test_path, "--ctx", "64", "--chunks", "1",
                "--save-logits", base)
    proc = run_tessera("perplexity", "-m", default_model, "-f", wiki_test_path, "--ctx", "128", "--chunks", "1",
                       "--kl", base, check=False)
    assert proc.returncode == 1 and "ctx" in proc.stderr
