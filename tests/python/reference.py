"""llama.cpp (through llama-cpp-python) as the reference: tokens and logits."""
import contextlib
import os
import sys

import numpy as np


@contextlib.contextmanager
def quiet_stderr():
    """llama.cpp prints loader chatter straight to fd 2; keep test output readable."""
    fd = sys.stderr.fileno()
    saved = os.dup(fd)
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), fd)
        try:
            yield
        finally:
            os.dup2(saved, fd)
            os.close(saved)


def load(model_path, n_ctx=1024, logits_all=True, vocab_only=False, flash_attn=False):
    """flash_attn=True: llama.cpp's online-softmax attention (its -fa), the same
    algorithm as tessera's default tiled attention; False: its two fp16 matmuls
    around a softmax, which tessera's parity mode follows operation for operation."""
    import llama_cpp

    with quiet_stderr():
        return llama_cpp.Llama(
            model_path=str(model_path), n_ctx=n_ctx, n_batch=min(n_ctx, 512), n_ubatch=min(n_ctx, 512),
            logits_all=logits_all, vocab_only=vocab_only, n_threads=2, n_threads_batch=2, verbose=False,
            flash_attn=flash_attn,
        )


def logits(llm, tokens):
    """Float32 logits of every position of `tokens`, from an empty cache."""
    llm.reset()
    with quiet_stderr():
        llm.eval(list(tokens))
    return np.array(llm.scores[: len(tokens)], dtype=np.float32)


def greedy(llm, prompt_tokens, n):
    llm.reset()
    out = []
    with quiet_stderr():
        llm.eval(list(prompt_tokens))
        for _ in range(n):
            tok = int(np.argmax(llm.scores[llm.n_tokens - 1]))
            out.append(tok)
            llm.eval([tok])
    return out


def log_softmax(x):
    x = x.astype(np.float64)
    x = x - x.max(axis=-1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=-1, keepdims=True))
