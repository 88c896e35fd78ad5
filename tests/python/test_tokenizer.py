"""Tokenizers against llama.cpp: the default model's SentencePiece vocabulary and
byte-level BPE vocabularies (llama3 and qwen2 pre-tokenizers) built by the suite."""
import json

import pytest

import reference
from conftest import run_tessera
from vocab_fixtures import write_bpe_vocab

EDGE_CASES = [
    "",
    " ",
    "     ",
    "\n",
    "\n\n\n",
    "Hello world",
    " leading and trailing spaces ",
    "tabs\tand\r\nwindows newlines",
    "emoji 😀🎉 and a family 👨‍👩‍👧",
    "日本語のテキスト、中文文本。",
    "Ünïcödé àccents",
    "numbers 1234567 and 3.14159, 1,000,000",
    "contractions: don't I'll we've she's THEY'RE",
    "<start_of_turn>user\nhi<end_of_turn>",
    "special text <bos> in the middle",
    "code: def f(x):\n    return x**2  # comment",
    "mixed   \t  whitespace\n\n  runs",
]


def tessera_ids(model, text, tmp_path, *flags):
    path = tmp_path / "text.txt"
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    proc = run_tessera("tokenize", model, "-f", path, "--json", *flags)
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def gemma_vocab(default_model):
    return reference.load(default_model, vocab_only=True, logits_all=False)


@pytest.mark.parametrize("text", EDGE_CASES)
@pytest.mark.parametrize("parse_special", [True, False])
def test_gemma_edge_cases(default_model, gemma_vocab, tmp_path, text, parse_special):
    flags = [] if parse_special else ["--no-parse-special"]
    expected = gemma_vocab.tokenize(text.encode(), add_bos=True, special=parse_special)
    assert tessera_ids(default_model, text, tmp_path, *flags) == expected


def test_gemma_invalid_utf8(default_model, gemma_vocab, tmp_path):
    raw = b"valid \xff\xfe broken \xc3 end \xe2\x82"
    path = tmp_path / "raw.txt"
    path.write_bytes(raw)
    proc = run_tessera("tokenize", default_model, "-f", path, "--json")
    assert json.loads(proc.stdout) == gemma_vocab.tokenize(raw, add_bos=True, special=True)


def test_gemma_no_bos(default_model, gemma_vocab, tmp_path):
    expected = gemma_vocab.tokenize(b"Hello", add_bos=False, special=True)
    assert tessera_ids(default_model, "Hello", tmp_path, "--no-bos") == expected


@pytest.fixture(scope="module", params=["llama-bpe", "qwen2"])
def bpe_model(request, tmp_path_factory, wiki_test_path):
    path = tmp_path_factory.mktemp("bpe") / f"{request.param}.gguf"
    write_bpe_vocab(path, request.param, wiki_test_path.read_text(encoding="utf-8")[:200_000])
    return path


def test_bpe_matches_llamacpp(bpe_model, wiki_test_path, tmp_path):
    llm = reference.load(bpe_model, vocab_only=True, logits_all=False)
    lines = wiki_test_path.read_text(encoding="utf-8").split("\n")[:1500]
    path = tmp_path / "lines.txt"
    path.write_text("\n".join(lines), encoding="utf-8")
    ours = json.loads(run_tessera("tokenize", bpe_model, "-f", path, "--lines").stdout)
    assert len(ours) == len(lines)
    bad = []
    for line, got in zip(lines, ours):
        expected = llm.tokenize(line.encode(), add_bos=True, special=True)
        if got != expected:
            bad.append((line[:50], got[:10], expected[:10]))
    assert not bad, f"{len(bad)} lines differ, first: {bad[:3]}"
    for text in EDGE_CASES:
        for flags, special in (([], True), (["--no-parse-special"], False)):
            assert tessera_ids(bpe_model, text, tmp_path, *flags) == llm.tokenize(
                text.encode(), add_bos=True, special=special), repr(text)
