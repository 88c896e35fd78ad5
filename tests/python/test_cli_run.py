"""tessera run on the default model: determinism, seeds, limits, stop strings,
streaming, the context check and flag validation."""
import json
import re

import pytest

from conftest import run_tessera

SUMMARY = re.compile(
    r"prompt: (\d+) tokens, ([\d.]+) tok/s \| generated: (\d+) tokens, ([\d.]+) tok/s \| "
    r"finish: (stop|length) \| peak RSS: (\d+) MiB")


def run_json(model, *args):
    return json.loads(run_tessera("run", "-m", model, "--json", *args).stdout)


def test_greedy_is_deterministic(default_model):
    a = run_json(default_model, "--greedy", "-n", "12", "The sky is")
    b = run_json(default_model, "--greedy", "-n", "12", "The sky is")
    assert a["tokens"] == b["tokens"] and a["text"] == b["text"]
    assert a["text"].strip()
    assert a["finish_reason"] in ("length", "stop")
    assert a["peak_rss_bytes"] > 0


def test_n_limits_the_generated_tokens(default_model):
    for n in (1, 5):
        r = run_json(default_model, "--greedy", "-n", str(n), "Here is a long list of animals: cat, dog,")
        assert r["generated_tokens"] == len(r["tokens"]) <= n
        if r["finish_reason"] == "length":
            assert r["generated_tokens"] == n
    none = run_json(default_model, "-n", "0", "Hello")
    assert none["generated_tokens"] == 0 and none["text"] == "" and none["finish_reason"] == "length"


def test_seed_makes_sampling_reproducible(default_model):
    args = ["--temp", "1.2", "--top-k", "0", "--top-p", "1", "--min-p", "0", "-n", "16", "Write a story:"]
    a = run_json(default_model, "--seed", "1", *args)
    b = run_json(default_model, "--seed", "1", *args)
    c = run_json(default_model, "--seed", "2", *args)
    assert a["tokens"] == b["tokens"]
    assert a["tokens"] != c["tokens"]


def test_stop_string_cuts_the_output(default_model):
    prompt = "Count: one, two, three,"
    free = run_json(default_model, "--greedy", "-n", "24", prompt)
    text = free["text"]
    assert len(text) > 6
    stop = text[3:6]
    cut = run_json(default_model, "--greedy", "-n", "24", "--stop", stop, prompt)
    assert cut["finish_reason"] == "stop"
    assert cut["text"] == text[: text.index(stop)]
    assert stop not in cut["text"]
    # Streamed output holds the same text: the stop string never reaches stdout.
    streamed = run_tessera("run", "-m", default_model, "--greedy", "-n", "24", "--stop", stop, prompt)
    assert streamed.stdout == cut["text"] + "\n"


def test_streamed_text_and_summary(default_model):
    j = run_json(default_model, "--greedy", "-n", "10", "Hello")
    proc = run_tessera("run", "-m", default_model, "--greedy", "-n", "10", "Hello")
    assert proc.stdout == j["text"] + "\n"
    m = SUMMARY.search(proc.stderr)
    assert m, proc.stderr
    assert int(m.group(1)) == j["prompt_tokens"]
    assert int(m.group(3)) == j["generated_tokens"] <= 10
    assert m.group(5) == j["finish_reason"]
    assert int(m.group(6)) > 0


def test_context_size_is_capped_by_the_model(default_model):
    r = run_json(default_model, "--greedy", "-n", "2", "--ctx-size", "100000000", "Hi")
    assert 0 < r["n_ctx"] < 100000000


def test_prompt_longer_than_the_context_is_rejected(default_model):
    prompt = "one two three four five six seven eight nine ten " * 8
    proc = run_tessera("run", "-m", default_model, "--ctx-size", "32", prompt, check=False)
    assert proc.returncode != 0
    assert re.search(r"prompt is \d+ tokens but the context is 32 tokens; use --ctx-size", proc.stderr), proc.stderr
    assert proc.stdout == ""


@pytest.mark.parametrize("flags, words", [
    (["-n", "-1"], "-n"),
    (["--ctx-size", "0"], "--ctx-size"),
    (["-t", "0"], "--threads"),
    (["--top-p", "0"], "--top-p"),
    (["--top-p", "1.5"], "--top-p"),
    (["--top-k", "-1"], "--top-k"),
    (["--min-p", "2"], "--min-p"),
    (["--repeat-penalty", "0"], "--repeat-penalty"),
    (["--repeat-last-n", "-1"], "--repeat-last-n"),
    (["--stop", ""], "--stop"),
])
def test_bad_flags_give_clear_errors(default_model, flags, words):
    proc = run_tessera("run", "-m", default_model, *flags, "hi", check=False, timeout=120)
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: ") and words in proc.stderr, proc.stderr


def test_unparsable_flag_values_are_rejected(default_model):
    proc = run_tessera("run", "-m", default_model, "--temp", "warm", "hi", check=False, timeout=120)
    assert proc.returncode != 0 and "--temp" in proc.stderr


def test_multibyte_text_streams_whole_characters(default_model):
    prompt = "日本の首都は"  # Japanese output: characters span several tokens' bytes
    j = run_json(default_model, "--greedy", "-n", "24", prompt)
    proc = run_tessera("run", "-m", default_model, "--greedy", "-n", "24", prompt)  # strict UTF-8 decode
    assert any(ord(ch) > 0x7F for ch in j["text"]), j["text"]
    assert "\ufffd" not in j["text"]
    assert proc.stdout == j["text"] + "\n"
