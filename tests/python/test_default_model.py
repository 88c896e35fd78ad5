"""tessera against llama.cpp on the default model (Gemma 3 270M Q4_K_M) and WikiText-2."""
import json
import time

import numpy as np
import pytest

import reference
import tessera_io
from conftest import run_tessera

N_CTX = 512
N_WINDOWS = 8


@pytest.fixture(scope="module")
def llm(default_model):
    return reference.load(default_model, n_ctx=N_CTX)


@pytest.fixture(scope="module")
def llm_fa(default_model):
    """llama.cpp with flash attention: the reference for tessera's default mode,
    whose tiled attention is the same online-softmax algorithm."""
    return reference.load(default_model, n_ctx=N_CTX, flash_attn=True)


@pytest.fixture(scope="module")
def wiki_text(wiki_test_path):
    return wiki_test_path.read_text(encoding="utf-8")


def test_tokenization_matches_llamacpp_on_every_line(default_model, wiki_text, tmp_path):
    vocab = reference.load(default_model, vocab_only=True, logits_all=False)
    lines = wiki_text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    proc = run_tessera("tokenize", default_model, "-f", _write(tmp_path / "wiki.txt", wiki_text), "--lines")
    ours = json.loads(proc.stdout)
    assert len(ours) == len(lines)
    mismatches = []
    for i, line in enumerate(lines):
        expected = vocab.tokenize(line.encode("utf-8"), add_bos=True, special=True)
        if ours[i] != expected:
            mismatches.append((i, line[:60], ours[i][:12], expected[:12]))
    assert not mismatches, f"{len(mismatches)} of {len(lines)} lines differ, first: {mismatches[:3]}"


def _write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


class _Agreement:
    """Mean KL(ref || other), top-1 agreement and both perplexities over the
    second half of each window (as llama-perplexity scores it), accumulated one
    window at a time (a window's log-probabilities are 0.5 GB on this vocabulary)."""

    def __init__(self):
        self.kls, self.agree, self.nll_ref, self.nll_other = [], [], [], []
        self.max_dlp = 0.0

    def add(self, window, ref, other):
        first = N_CTX // 2
        self.max_dlp = max(self.max_dlp, float(np.abs(other[first:] - ref[first:]).max()))
        for i in range(first, N_CTX - 1):
            p, q = ref[i], other[i]
            self.kls.append(float(np.sum(np.exp(p) * (p - q))))
            self.agree.append(int(np.argmax(p) == np.argmax(q)))
            self.nll_ref.append(-p[window[i + 1]])
            self.nll_other.append(-q[window[i + 1]])

    def stats(self):
        return {
            "kl": float(np.mean(self.kls)), "kl_p99": float(np.percentile(self.kls, 99)),
            "top1": float(np.mean(self.agree)), "ppl_ref": float(np.exp(np.mean(self.nll_ref))),
            "ppl": float(np.exp(np.mean(self.nll_other))), "max_dlp": self.max_dlp,
        }


def _describe(name, s):
    return (f"{name}: mean KL {s['kl']:.3g} (p99 {s['kl_p99']:.3g}), max |dlogprob| {s['max_dlp']:.3g}, "
            f"top-1 {100 * s['top1']:.2f}%, ppl {s['ppl']:.4f} vs llama.cpp {s['ppl_ref']:.4f} "
            f"({100 * (s['ppl'] / s['ppl_ref'] - 1):+.3f}%)")


def test_kl_top1_and_perplexity_against_llamacpp(default_model, llm, llm_fa, wiki_text, tmp_path):
    tokens = llm.tokenize(wiki_text.encode("utf-8"), add_bos=True, special=False)
    bos = llm.token_bos()
    t0 = time.time()
    windows = []
    for w in range(N_WINDOWS):
        window = list(tokens[w * N_CTX:(w + 1) * N_CTX])
        window[0] = bos
        windows.append(window)
    parity, packed, packed_nofa, llama_fa = _Agreement(), _Agreement(), _Agreement(), _Agreement()
    for window in windows:
        ref = reference.log_softmax(reference.logits(llm, window))
        ref_fa = reference.log_softmax(reference.logits(llm_fa, window))
        parity.add(window, ref, reference.log_softmax(
            tessera_io.logits(default_model, window, tmp_path, env=tessera_io.PARITY_MODE)))
        ours = reference.log_softmax(tessera_io.logits(default_model, window, tmp_path))
        packed.add(window, ref_fa, ours)
        packed_nofa.add(window, ref, ours)
        llama_fa.add(window, ref, ref_fa)
        del ref, ref_fa, ours
    s_parity, s_packed = parity.stats(), packed.stats()
    print(f"\n{N_WINDOWS}x{N_CTX} windows, {time.time() - t0:.0f}s")
    for name, s in (("tessera parity mode vs llama.cpp", s_parity),
                    ("tessera default mode vs llama.cpp -fa", s_packed),
                    ("tessera default mode vs llama.cpp", packed_nofa.stats()),
                    ("llama.cpp -fa vs llama.cpp", llama_fa.stats())):
        print(_describe(name, s))
    # Issue targets, in parity mode (TESSERA_REPACK=0: llama.cpp's float order
    # on this model's whole path; measured KL 0, top-1 100%, equal perplexity on
    # the machine docs/correctness.md names): KL <= 0.005, top-1 >= 98%,
    # perplexity within 0.5%. The asserted bounds are the issue's own: the
    # machines of this project's kind change between sessions, and llama.cpp
    # built natively for another CPU may pick kernels tessera does not follow.
    assert s_parity["kl"] <= 0.005
    assert s_parity["top1"] >= 0.98
    assert abs(s_parity["ppl"] / s_parity["ppl_ref"] - 1) <= 0.005
    # Default mode (packed kernels and tiled attention, another float order),
    # against llama.cpp -fa: on this model any float-order change moves the
    # logits about as far as llama.cpp's own decode kernels (n_ubatch 1) move
    # them from its prefill kernels: KL 0.0051, top-1 98.0% on the first window
    # (docs/correctness.md, with the command). Held to the perplexity
    # bound and to 1.5x the KL bound.
    assert abs(s_packed["ppl"] / s_packed["ppl_ref"] - 1) <= 0.005
    assert s_packed["kl"] <= 0.0075
    assert s_packed["top1"] >= 0.94
    # tessera's own perplexity command must agree with the logits-derived figure.
    wiki_file = _write(tmp_path / "wiki.txt", wiki_text)
    proc = run_tessera("perplexity", "-m", default_model, "-f", wiki_file, "--ctx", N_CTX,
                       "--chunks", N_WINDOWS, "--json")
    ppl_cmd = json.loads(proc.stdout)["perplexity"]
    assert abs(ppl_cmd / s_packed["ppl"] - 1) <= 0.001, (ppl_cmd, s_packed["ppl"])


PROMPTS = [
    "Once upon a time",
    "The capital of France is",
    "def fibonacci(n):",
    "The three primary colors are",
    "In 1969, the first humans",
]


@pytest.mark.parametrize("mode", ["parity", "default"])
def test_greedy_continuations_match_llamacpp(default_model, llm, llm_fa, mode):
    """Every token tessera picks greedily is llama.cpp's argmax for the same text, or
    within a near-tie of it. Parity mode against llama.cpp, and (issue target) at
    least three of the five 64-token continuations equal to llama.cpp's own
    token-by-token greedy output. The default mode against llama.cpp -fa (same
    attention algorithm), identical continuations printed but not asserted: a
    near-tie decides where a continuation forks, and llama.cpp's own two attention
    paths agree on only 2 of these 5 continuations (printed; docs/correctness.md)."""
    ref_llm = llm if mode == "parity" else llm_fa
    env = tessera_io.PARITY_MODE if mode == "parity" else None
    identical = llama_self_identical = 0
    for prompt in PROMPTS:
        prompt_tokens = ref_llm.tokenize(prompt.encode(), add_bos=True, special=True)
        expected = reference.greedy(ref_llm, prompt_tokens, 64)
        if mode == "default":
            # llama.cpp against itself: its two attention paths' continuations.
            llama_self_identical += expected == reference.greedy(llm, prompt_tokens, 64)
        proc = run_tessera("run", "-m", default_model, "--greedy", "-n", 64, "--json", prompt, env=env)
        ours = json.loads(proc.stdout)["tokens"]
        assert ours, prompt
        n = min(len(ours), len(expected))
        same = ours[:n] == expected[:n]
        identical += same
        # llama.cpp's logits for the prompt followed by tessera's tokens, in one pass.
        ref = reference.logits(ref_llm, list(prompt_tokens) + ours)
        steps = ref[len(prompt_tokens) - 1:len(prompt_tokens) - 1 + len(ours)]
        gaps = steps.max(axis=1) - steps[np.arange(len(ours)), ours]
        first = next((i for i in range(n) if ours[i] != expected[i]), None)
        print(f"{mode} {prompt!r}: {'identical' if same else f'first differs at token {first}'}; "
              f"largest gap to llama.cpp's argmax {gaps.max():.3f}")
        # A greedy pick may only differ from llama.cpp's argmax at a near-tie.
        assert gaps.max() <= 0.25, (prompt, int(gaps.argmax()), float(gaps.max()))
    print(f"{mode}: {identical} of {len(PROMPTS)} continuations identical to llama.cpp's (issue target: >= 3)")
    if mode == "default":
        print(f"llama.cpp -fa vs without: {llama_self_identical} of {len(PROMPTS)} continuations identical")
    if mode == "parity":
        assert identical >= 3
