"""Logits of every architecture, in F32 and llama.cpp's Q8_0 / Q4_K_M / Q5_K_M, against llama.cpp."""
import numpy as np
import pytest

import model_fixtures
import reference
import tessera_io


@pytest.fixture(scope="session")
def fixture_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("models")


def _compare(ours, ref):
    max_diff = float(np.abs(ours - ref).max())
    max_logit = float(np.abs(ref).max())
    top2 = np.sort(ref, axis=1)[:, -2:]
    decisive = (top2[:, 1] - top2[:, 0]) > 0.01
    same_top1 = ours.argmax(1) == ref.argmax(1)
    return max_diff, max_logit, decisive, same_top1


@pytest.mark.parametrize("ftype", list(model_fixtures.FTYPES))
@pytest.mark.parametrize("arch", model_fixtures.ARCHS)
def test_logits_match_llamacpp(fixture_dir, tmp_path, arch, ftype):
    model = model_fixtures.build(fixture_dir, arch, ftype)
    llm = reference.load(model, n_ctx=128)
    rng = np.random.default_rng(42)
    bos = llm.token_bos() if llm.token_bos() >= 0 else 0
    tokens = [bos] + [int(t) for t in rng.integers(300, model_fixtures.N_VOCAB - 1, size=63)]
    ref = reference.logits(llm, tokens)
    assert float(np.abs(ref).max()) > 1.0, "fixture logits are too flat to test anything"

    # Parity mode (TESSERA_REPACK=0): the row kernels in llama.cpp's float order
    # (batch-size-dependent K-quant kernels, ggml's exp, softmax and fp16 matmul
    # order, RoPE's fma; docs/correctness.md). Issue target: 1e-2 x max|logit|
    # and every decisive top-1 equal. The quantized fixtures measured
    # bit-identical to llama.cpp; the bound asserted is the issue's, because
    # llama.cpp built natively for another CPU of this project's (changing)
    # machine kind may choose kernels tessera does not follow. F32 runs through
    # tessera's own float matmul, not ggml's order.
    ours = tessera_io.logits(model, tokens, tmp_path, env=tessera_io.PARITY_MODE)
    assert ours.shape == ref.shape
    max_diff, max_logit, decisive, same_top1 = _compare(ours, ref)
    print(f"\n{arch} {ftype} parity mode: max|dlogit| {max_diff:.4g} = {max_diff / max_logit:.2e} x max|logit| "
          f"({max_logit:.2f}); top-1 equal at {same_top1[decisive].sum()}/{decisive.sum()} decisive positions")
    assert max_diff <= 1e-2 * max_logit
    assert same_top1[decisive].all()

    # Default mode: packed 16-row kernels (kernels/packed.h) with exact integer
    # block sums, and tiled online-softmax attention (kernels/attention_tile.h),
    # both in another float order. It is compared with llama.cpp's flash
    # attention (-fa), the same attention algorithm. These random fixtures
    # amplify any float-order change: a last-bit difference flips the rounding
    # of an 8-bit activation somewhere, and the flip spreads through the KV
    # cache. llama.cpp itself differs from itself by up to 1.9e-2 x max|logit|
    # on the Q4_K fixtures between n_ubatch 1 (its decode kernels) and 128, and
    # by up to 3.9e-2 between its flash and non-flash attention (printed below;
    # docs/correctness.md). The default mode is held to 4e-2 against llama.cpp
    # -fa, or to 1.5x llama.cpp's own -fa / non-fa difference on the same file
    # where that is larger (the Q5_K_M llama fixture: 3.4e-2 in llama.cpp,
    # 4.1e-2 here), and to the decisive top-1 tokens at 90% of positions: a
    # wrong kernel or layout is off by O(1) everywhere (the kernels themselves
    # are checked bit for bit against their scalar references in
    # tests/unit/kernels/).
    flash = reference.logits(reference.load(model, n_ctx=128, flash_attn=True), tokens)
    packed = tessera_io.logits(model, tokens, tmp_path)
    max_diff, max_logit, decisive, same_top1 = _compare(packed, flash)
    self_spread = float(np.abs(flash - ref).max()) / max_logit
    bound = max(4e-2, 1.5 * self_spread)
    print(f"{arch} {ftype} default mode vs llama.cpp -fa: max|dlogit| {max_diff / max_logit:.2e} x max|logit| "
          f"(bound {bound:.2e}); top-1 equal at {same_top1[decisive].sum()}/{decisive.sum()} decisive positions "
          f"(llama.cpp -fa vs without: {self_spread:.2e})")
    assert max_diff <= bound * max_logit
    assert same_top1[decisive].mean() >= 0.9
